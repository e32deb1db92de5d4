package stream_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/unistream-go/unistream/stream"
)

// logLine is one captured log record.
type logLine struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// logCapture is a slog.Handler that keeps the records it is given.
type logCapture struct {
	mu    sync.Mutex
	lines []logLine
}

func (h *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCapture) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logCapture) WithGroup(string) slog.Handler            { return h }
func (h *logCapture) Handle(_ context.Context, r slog.Record) error {
	l := logLine{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool { l.attrs[a.Key] = a.Value.String(); return true })
	h.mu.Lock()
	h.lines = append(h.lines, l)
	h.mu.Unlock()
	return nil
}

// of returns the lines of the given event.
func (h *logCapture) of(event string) []logLine {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []logLine
	for _, l := range h.lines {
		if l.attrs["event"] == event {
			out = append(out, l)
		}
	}
	return out
}

func TestWithLoggerNilIsAnOptionError(t *testing.T) {
	e := newEnv(t, 1)
	h := func(context.Context, *stream.Record) error { return nil }
	for _, tc := range []struct {
		name string
		open func() error
	}{
		{"consumer", func() error {
			_, err := stream.NewConsumer(stream.NewStream(e.s), h, stream.WithName("test"),
				stream.WithCheckpointStore(e.store), stream.WithDLQ(e.sink), stream.WithLogger(nil))
			return err
		}},
		{"producer", func() error {
			p, err := stream.NewProducer(stream.NewStream(e.s), stream.WithoutWAL(), stream.WithLogger(nil))
			if err == nil {
				p.Close(context.Background())
			}
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.open()
			var oe *stream.OptionError
			if !errors.As(err, &oe) || oe.Option != "WithLogger" || !strings.Contains(oe.Expected, "*slog.Logger") {
				t.Fatalf("err = %v, want an OptionError naming WithLogger and a *slog.Logger", err)
			}
		})
	}
}

func TestWithLoggerLogsFetchErrorsAndHalt(t *testing.T) {
	e := newEnv(t, 1)
	ids := e.write("a", "a")
	bad := ids[1]
	e.s.FailFetches(2, errors.New("broker unreachable"))
	logs := &logCapture{}
	var mu sync.Mutex
	var observed []stream.EventKind
	obs := stream.ObserverFunc(func(ev stream.Event) {
		mu.Lock()
		observed = append(observed, ev.Kind)
		mu.Unlock()
	})
	h := func(_ context.Context, r *stream.Record) error {
		if r.ID == bad {
			return errors.New("cannot parse order")
		}
		return nil
	}
	c := e.consumer(h, stream.WithOnExhausted(stream.Halt), stream.WithLogger(slog.New(logs)), stream.WithObserver(obs))
	halted := func() bool { return len(logs.of("halted")) > 0 }
	if err := e.run(c, halted); err != nil {
		t.Fatal(err)
	}
	fe := logs.of("fetch_error")
	if len(fe) != 2 {
		t.Fatalf("%d fetch_error log lines, want 2 (one per injected failure): %+v", len(fe), logs.lines)
	}
	if l := fe[0]; l.level != slog.LevelWarn || l.attrs["stream"] != "orders" || l.attrs["partition"] == "" ||
		l.attrs["attempt"] != "1" || !strings.Contains(l.attrs["error"], "broker unreachable") {
		t.Fatalf("fetch_error line = %+v, want Warn with stream, partition, attempt 1 and the error", l)
	}
	hl := logs.of("halted")[0]
	if hl.level != slog.LevelError || hl.attrs["record_id"] != bad || !strings.Contains(hl.attrs["error"], "cannot parse order") {
		t.Fatalf("halted line = %+v, want Error naming record %s and the handler's error", hl, bad)
	}
	saves := logs.of("checkpoint_saved")
	if len(saves) == 0 || saves[0].level != slog.LevelDebug || saves[0].attrs["elapsed"] == "" {
		t.Errorf("checkpoint_saved lines = %+v, want Debug lines with the elapsed time", saves)
	}
	logs.mu.Lock()
	for _, l := range logs.lines {
		if l.level < slog.LevelInfo && l.attrs["event"] != "checkpoint_saved" {
			t.Errorf("line below Info: %+v", l)
		}
		if ev := l.attrs["event"]; ev == "attempt_started" || ev == "attempt_succeeded" || ev == "attempt_failed" || ev == "committed" {
			t.Errorf("per-record event logged: %+v", l)
		}
	}
	logs.mu.Unlock()
	// The user's observer still sees every event, not only the logged ones.
	mu.Lock()
	defer mu.Unlock()
	seen := map[stream.EventKind]bool{}
	for _, k := range observed {
		seen[k] = true
	}
	for _, k := range []stream.EventKind{stream.EventFetchError, stream.EventAttemptStarted, stream.EventAttemptSucceeded, stream.EventHalted} {
		if !seen[k] {
			t.Errorf("observer missed %v beside WithLogger", k)
		}
	}
}

func TestWithLoggerLogsDLQWrites(t *testing.T) {
	e := newEnv(t, 1)
	ids := e.write("a")
	logs := &logCapture{}
	h := func(context.Context, *stream.Record) error { return errors.New("nope") }
	c := e.consumer(h, stream.WithLogger(slog.New(logs)))
	if err := e.run(c, func() bool { return len(logs.of("dead_lettered")) > 0 }); err != nil {
		t.Fatal(err)
	}
	if l := logs.of("dead_lettered")[0]; l.level != slog.LevelInfo || l.attrs["record_id"] != ids[0] || l.attrs["attempt"] != "3" {
		t.Fatalf("dead_lettered line = %+v, want Info naming %s after 3 attempts", l, ids[0])
	}
}
