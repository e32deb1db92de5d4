package postgres

import (
	"testing"

	"github.com/unistream-go/unistream/stream/checkpoint/storetest"
)

// TestConsumersShareLeases runs two consumers sharing a stream through the
// store's leases (storetest.RunConsumersShareLeases).
func TestConsumersShareLeases(t *testing.T) {
	storetest.RunConsumersShareLeases(t, newStore(t))
}
