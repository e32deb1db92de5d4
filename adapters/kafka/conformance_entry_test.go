package kafka_test

import (
	"testing"

	"github.com/unistream-go/unistream/conformance"
)

// TestConformance runs the shared conformance suite against the Kafka
// adapter on kfake. (Temporary: the generator writes this entry point from
// adapter.yaml once the adapter has a spec.)
func TestConformance(t *testing.T) { conformance.Run(t, conformanceHarness(t)) }
