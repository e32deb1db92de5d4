package postgres

import (
	"testing"

	"github.com/unistream-go/unistream/stream/checkpoint/storetest/consumertest"
)

// TestConsumersShareLeases runs two consumers sharing a stream through the
// store's leases (consumertest.SharedLeases).
func TestConsumersShareLeases(t *testing.T) {
	consumertest.SharedLeases(t, newStore(t))
}
