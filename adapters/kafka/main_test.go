package kafka_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	_ "github.com/unistream-go/unistream/adapters/kafka"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/driver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// kafkaOpen opens a stream by URL (the kafka scheme is registered by the
// package under test).
func kafkaOpen(ctx context.Context, rawURL string) (driver.Stream, error) {
	return stream.Open(ctx, rawURL)
}
