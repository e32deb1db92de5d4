package pulsar_test

import (
	"log/slog"

	pulsarlog "github.com/apache/pulsar-client-go/pulsar/log"
)

// quietLogger drops the client's logs below warnings.
func quietLogger() pulsarlog.Logger {
	return pulsarlog.NewLoggerWithSlog(slog.New(slog.NewTextHandler(discard{}, &slog.HandlerOptions{Level: slog.LevelError})))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
