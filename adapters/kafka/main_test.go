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
	s, err := stream.Open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	return s.Driver(), nil
}
