package main

import (
	"testing"

	"go.uber.org/goleak"
)

// The example stops every goroutine it starts; the embedded broker ends a
// closed connection's goroutines on its own schedule.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/twmb/franz-go/pkg/kfake.(*Cluster).run"))
}
