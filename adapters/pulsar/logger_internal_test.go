package pulsar

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	pulsarlog "github.com/apache/pulsar-client-go/pulsar/log"
)

// capturedLine is one line a capture handler was given.
type capturedLine struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// captureHandler keeps the lines at min or above, and the attributes
// given through WithAttrs.
type captureHandler struct {
	min   slog.Level
	attrs []slog.Attr
	mu    *sync.Mutex
	lines *[]capturedLine
}

func newCaptureHandler(min slog.Level) *captureHandler {
	return &captureHandler{min: min, mu: &sync.Mutex{}, lines: &[]capturedLine{}}
}

func (h *captureHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.min }
func (h *captureHandler) WithGroup(string) slog.Handler                { return h }
func (h *captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	l := capturedLine{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		l.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool { l.attrs[a.Key] = a.Value.String(); return true })
	h.mu.Lock()
	*h.lines = append(*h.lines, l)
	h.mu.Unlock()
	return nil
}

func (h *captureHandler) got() []capturedLine {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]capturedLine(nil), *h.lines...)
}

func TestClientLoggerIsQuiet(t *testing.T) {
	for _, tc := range []struct {
		name string
		log  func(pulsarlog.Logger)
		want slog.Level
		show bool // shown by a handler at Debug
	}{
		{"warning", func(l pulsarlog.Logger) {
			l.Warnf("receive %d messages , all filtered", 1)
		}, slog.LevelDebug, true},
		{"info", func(l pulsarlog.Logger) {
			l.Infof("Connected consumer")
		}, slog.LevelDebug, true},
		{"error", func(l pulsarlog.Logger) {
			l.Errorf("connection closed")
		}, slog.LevelWarn, true},
		{"debug", func(l pulsarlog.Logger) {
			l.Debugf("sending ping")
		}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newCaptureHandler(slog.LevelDebug)
			tc.log(clientLogger(h))
			lines := h.got()
			if !tc.show {
				if len(lines) != 0 {
					t.Fatalf("lines = %+v, want none at Debug", lines)
				}
				return
			}
			if len(lines) != 1 || lines[0].level != tc.want {
				t.Fatalf("lines = %+v, want one at %v", lines, tc.want)
			}
		})
	}
}

// TestClientLoggerAtInfo: at the usual Info level, only the client's
// errors show, as warnings, with the fields the client gave.
func TestClientLoggerAtInfo(t *testing.T) {
	h := newCaptureHandler(slog.LevelInfo)
	l := clientLogger(h).SubLogger(map[string]any{"topic": "orders"})
	l.Warnf("receive %d messages , all filtered", 1)
	l.Info("Connected consumer")
	l.WithError(errors.New("EOF")).Error("connection closed")
	lines := h.got()
	if len(lines) != 1 || lines[0].level != slog.LevelWarn || lines[0].msg != "connection closed" ||
		lines[0].attrs["topic"] != "orders" || lines[0].attrs["error"] != "EOF" {
		t.Fatalf("lines = %+v, want only the error, at Warn, with its topic and error", lines)
	}
}
