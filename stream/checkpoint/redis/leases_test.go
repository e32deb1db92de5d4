package redis

import (
	"testing"

	"github.com/unistream-go/unistream/stream/checkpoint/storetest"
)

// TestConsumersShareLeases runs two consumers with stream.WithLeases on
// the Redis store.
func TestConsumersShareLeases(t *testing.T) {
	storetest.RunConsumersShareLeases(t, newStore(t))
}
