package conformance_test

import (
	"fmt"
	"os"
	"regexp"
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
	var n int
	harness := conformance.Harness{
		Name: "mem",
		NewStream: func(t conformance.T, spec conformance.StreamSpec) (string, error) {
			n++ // scenarios run one at a time
			name := fmt.Sprintf("standalone-%d", n)
			t.Cleanup(func() { memstream.Default().Delete(name) })
			return fmt.Sprintf("mem://%s?partitions=%d", name, spec.Partitions), nil
		},
	}
	rep := conformance.RunStandalone(harness, os.Stdout, regexp.MustCompile(`retry|dlq`))
	fmt.Print(conformance.Markdown([]conformance.Report{rep}))
}
