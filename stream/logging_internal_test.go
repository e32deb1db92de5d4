package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/wal"
	"github.com/unistream-go/unistream/stream/wal/waltest"
)

// lockedBuffer is a bytes.Buffer safe for the engine's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestWithLoggerLogsProducerDrops: a refused record is logged once, with
// or without a WithObserver observer (the engine copies the batch's
// records for an observer only).
func TestWithLoggerLogsProducerDrops(t *testing.T) {
	for _, withObserver := range []bool{false, true} {
		t.Run(fmt.Sprintf("observer=%v", withObserver), func(t *testing.T) {
			prodLeakCheck(t)
			s := newProdFakeStream(3)
			cause := driver.Permanent(errors.New("topic does not exist"))
			refuseID(s, "r003", cause)
			var buf lockedBuffer
			ev := &prodEvents{}
			opts := []ProducerOption{WithLogger(slog.New(slog.NewTextHandler(&buf, nil)))}
			if withObserver {
				opts = append(opts, WithObserver(ev))
			}
			p, _, _ := newTestProducer(t, s, opts...)
			for i := range 12 {
				mustPut(t, p, prodRec(i, 6))
			}
			if err := p.Flush(context.Background()); !errors.Is(err, ErrRecordRefused) {
				t.Fatalf("Flush = %v, want ErrRecordRefused", err)
			}
			out := buf.String()
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], "level=ERROR") || !strings.Contains(lines[0], "event=producer_dropped") ||
				!strings.Contains(lines[0], "count=1") || !strings.Contains(lines[0], "topic does not exist") {
				t.Fatalf("log = %q, want one ERROR producer_dropped line with the count and the cause (nothing per record sent)", out)
			}
			if withObserver {
				if dr := ev.of(EventProducerDropped); len(dr) != 1 || dr[0].Count != 1 || !errors.Is(dr[0].Err, cause) {
					t.Errorf("observer's dropped events = %+v, want one, of r003", dr)
				}
				if len(ev.of(EventProducerSent)) == 0 {
					t.Error("the observer saw no producer_sent beside WithLogger")
				}
			}
		})
	}
}

func TestLogObserverLevels(t *testing.T) {
	for _, tc := range []struct {
		e    Event
		want string // "" for no line
	}{
		{Event{Kind: EventFetchError, Err: errors.New("x"), Attempt: 1}, "WARN"},
		{Event{Kind: EventCheckpointError, Err: errors.New("x"), Attempt: 1}, "WARN"},
		{Event{Kind: EventCheckpointRecovered, Attempt: 2}, "INFO"},
		{Event{Kind: EventDeadLettered, Record: &Record{ID: "r1"}}, "INFO"},
		{Event{Kind: EventHalted, Record: &Record{ID: "r1"}, Err: ErrHalted}, "ERROR"},
		{Event{Kind: EventProducerHold, Err: errors.New("x")}, "WARN"},
		{Event{Kind: EventProducerDeadLettered, Count: 1, Err: errors.New("x")}, "WARN"},
		{Event{Kind: EventProducerDropped, Count: 1, Err: errors.New("x")}, "ERROR"},
		{Event{Kind: EventProducerDLQError, Err: errors.New("x")}, "WARN"},
		{Event{Kind: EventProducerReplayed, Count: 3}, "INFO"},
		{Event{Kind: EventProducerReplayed, Count: 3, Err: errors.New("torn tail cut")}, "WARN"},
		{Event{Kind: EventCheckpointSaved, Elapsed: time.Millisecond}, "DEBUG"},
		{Event{Kind: EventProducerWALSynced, Count: 3, Elapsed: time.Millisecond}, "DEBUG"},
		{Event{Kind: EventAttemptStarted, Record: &Record{ID: "r1"}}, ""},
		{Event{Kind: EventAttemptFailed, Record: &Record{ID: "r1"}, Err: errors.New("x")}, ""},
		{Event{Kind: EventAttemptSucceeded}, ""},
		{Event{Kind: EventBatchFetched, Count: 10}, ""},
		{Event{Kind: EventCommitted}, ""},
		{Event{Kind: EventProducerEmit, Count: 10}, ""},
		{Event{Kind: EventProducerSent, Count: 10}, ""},
	} {
		t.Run(tc.e.Kind.String(), func(t *testing.T) {
			if logged(tc.e.Kind) != (tc.want != "") {
				t.Errorf("logged(%v) = %v, want %v: the engines give the logger only the events it logs", tc.e.Kind, !(tc.want != ""), tc.want != "")
			}
			var buf lockedBuffer
			newLogObserver(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))).Observe(tc.e)
			out := buf.String()
			if tc.want == "" {
				if out != "" {
					t.Fatalf("logged %q, want nothing", out)
				}
				return
			}
			if !strings.Contains(out, "level="+tc.want) || !strings.Contains(out, "event="+tc.e.Kind.String()) {
				t.Fatalf("logged %q, want a %s line for %v", out, tc.want, tc.e.Kind)
			}
		})
	}
	// The default, discarding logger installs nothing: no event is built for it.
	if o := newLogObserver(discardLogger); o != nil {
		t.Errorf("newLogObserver(discard) = %v, want nil", o)
	}
}

func TestWithLoggerLogsWALFailures(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(1)
	// Opening a new WAL syncs it: count those syncs on a first producer,
	// then fail the first sync after them.
	counter := &waltest.FaultFS{}
	p0, _, _ := newTestProducer(t, s, withWALOptions(wal.Options{OpenFile: counter.OpenFile}))
	opening := counter.Syncs()
	p0.Close(context.Background())
	fs := &waltest.FaultFS{Mode: waltest.FailSync, At: opening + 1}
	var buf lockedBuffer
	p, _, path := newTestProducer(t, s, WithFsync(FsyncAlways), withWALOptions(wal.Options{OpenFile: fs.OpenFile}),
		WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	for i := range 3 {
		p.Put(context.Background(), prodRec(i, 1)) // the first one's sync fails
	}
	if !fs.Faulted() {
		t.Fatal("no sync failed")
	}
	if err := p.Close(context.Background()); err == nil {
		t.Fatal("Close = nil, want the WAL failure")
	}
	out := buf.String()
	if n := strings.Count(out, "write-ahead log failed"); n != 1 || !strings.Contains(out, "level=ERROR") ||
		!strings.Contains(out, "wal="+path) || !strings.Contains(out, waltest.ErrInjected.Error()) {
		t.Fatalf("log = %q, want one ERROR line naming the WAL file and the failure", out)
	}
}
