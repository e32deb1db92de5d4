package main

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/unistream-go/unistream/adapters/pulsar/pulsartest"
)

// TestMain checks that no goroutine outlives the tests, except the ones
// pulsar-client-go leaves behind on its own (pulsartest.ClientLeaks).
func TestMain(m *testing.M) {
	var opts []goleak.Option
	for _, f := range pulsartest.ClientLeaks() {
		opts = append(opts, goleak.IgnoreAnyFunction(f))
	}
	goleak.VerifyTestMain(m, opts...)
}
