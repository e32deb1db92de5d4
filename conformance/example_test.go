package conformance_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/unistream-go/unistream/conformance"
	"github.com/unistream-go/unistream/stream/memstream"
)

// A backend's conformance test: describe the backend, then Run the suite.
func ExampleRun() {
	var n int
	harness := conformance.Harness{
		Name: "mem",
		NewStream: func(t conformance.T, spec conformance.StreamSpec) (string, error) {
			n++
			name := fmt.Sprintf("example-%d", n)
			t.Cleanup(func() { memstream.Default().Delete(name) })
			return fmt.Sprintf("mem://%s?partitions=%d", name, spec.Partitions), nil
		},
	}
	// In a _test.go file:
	//	func TestConformance(t *testing.T) { conformance.Run(t, harness) }
	_ = func(t *testing.T) { conformance.Run(t, harness) }
}

// The suite outside go test, as `unistream conformance --stream URL` runs
// it: a log on standard output and a report.
func ExampleRunStandalone() {
	harness := conformance.Harness{
		Name: "mem",
		NewStream: func(t conformance.T, spec conformance.StreamSpec) (string, error) {
			return fmt.Sprintf("mem://standalone-%d?partitions=%d", os.Getpid(), spec.Partitions), nil
		},
	}
	rep := conformance.RunStandalone(harness, os.Stdout, nil)
	fmt.Print(conformance.Markdown([]conformance.Report{rep}))
}
