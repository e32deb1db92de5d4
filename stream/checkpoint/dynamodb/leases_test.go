package dynamodb

import (
	"testing"

	"github.com/unistream-go/unistream/stream/checkpoint/storetest"
)

// TestConsumersShareLeases runs two consumers with stream.WithLeases on a
// DynamoDB table (dynalite).
func TestConsumersShareLeases(t *testing.T) {
	storetest.RunConsumersShareLeases(t, newStore(t))
}
