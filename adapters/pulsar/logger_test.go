package pulsar_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/unistream-go/unistream/adapters/pulsar/pulsartest"
	"github.com/unistream-go/unistream/stream/driver"
)

// levelLog is a slog.Handler that keeps each line's level and message.
type levelLog struct {
	mu    sync.Mutex
	lines []slog.Record
}

func (h *levelLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *levelLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *levelLog) WithGroup(string) slog.Handler            { return h }
func (h *levelLog) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.lines = append(h.lines, r)
	h.mu.Unlock()
	return nil
}

// TestClientWarningsAtDebug: pulsar-client-go's warning when a reader
// filters out a whole batch ("receive N messages , all filtered") reaches
// slog's default logger at Debug, and the client logs nothing at Info.
func TestClientWarningsAtDebug(t *testing.T) {
	h := &levelLog{}
	prev := slog.Default()
	slog.SetDefault(slog.New(h))
	t.Cleanup(func() { slog.SetDefault(prev) })

	b := pulsartest.Start(t, pulsartest.Topic("quiet", 0))
	s := openStream(t, b.URL("quiet", "batching_delay", "1m"))
	res := write(t, s, recs("r", 10, "k")...) // one batched entry
	write(t, s, recs("n", 1, "k")...)
	// Started after the batch's last record, the reader receives the batch
	// and filters out every record of it.
	readN(t, s, "0", driver.Start{Kind: driver.StartAfter, Pointer: res[9].Pointer}, 1)
	s.Close()

	h.mu.Lock()
	defer h.mu.Unlock()
	filtered := false
	for _, r := range h.lines {
		if strings.Contains(r.Message, "all filtered") {
			filtered = true
			if r.Level != slog.LevelDebug {
				t.Errorf("%q logged at %v, want DEBUG", r.Message, r.Level)
			}
		}
		if r.Level == slog.LevelInfo {
			t.Errorf("%q logged at INFO: the client's info lines go to Debug", r.Message)
		}
	}
	if !filtered {
		t.Fatalf("no \"all filtered\" line among %d lines: the test needs a reader started inside a batch", len(h.lines))
	}
}
