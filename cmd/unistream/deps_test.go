package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// testingImporters are the third-party packages of the CLI's dependency
// graph that import package testing, each with the chain that forces it.
// Our own packages never may.
var testingImporters = map[string]string{
	// pulsar-client-go/pulsar imports pulsar/auth (for every
	// authentication kind), whose Athenz plugin imports
	// athenz/libs/go/zmssvctoken -> athenzutils -> sia/util, where
	// util_test_linux.go is, by its name, not a test file.
	"github.com/AthenZ/athenz/libs/go/sia/util": "pulsar-client-go/pulsar -> pulsar/auth -> athenz zmssvctoken -> athenzutils -> sia/util (util_test_linux.go)",
}

// TestShippedGraphCarriesNoTestMachinery: the CLI links no test
// machinery: no goleak, no per-process fault counters, and package
// testing only where a third-party package forces it (testingImporters).
// Embedded brokers (kfake, kinesisfake, pulsarfake) are a feature of demo
// and serve, and stay.
func TestShippedGraphCarriesNoTestMachinery(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	seen := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		pkg, imports := f[0], f[1:]
		seen[pkg] = true
		for _, bad := range []string{"go.uber.org/goleak", "/internal/faultcount"} {
			if strings.Contains(pkg, bad) {
				t.Errorf("the CLI links %s", pkg)
			}
		}
		if slices.Contains(imports, "testing") {
			if why, ok := testingImporters[pkg]; ok {
				t.Logf("package testing is linked through a third party: %s", why)
			} else {
				t.Errorf("%s imports package testing, which the CLI then links", pkg)
			}
		}
	}
	for pkg := range testingImporters {
		if !seen[pkg] {
			t.Errorf("%s is no longer in the CLI's graph: remove it from testingImporters", pkg)
		}
	}
}

// TestExportersOnlyInTheCLI: the telemetry exporters (Prometheus, OTLP)
// are the CLI's: no package of the library imports them, whatever it
// imports, and the lite build (make demo) leaves the OTLP exporters and
// gRPC out.
func TestExportersOnlyInTheCLI(t *testing.T) {
	tests := []struct {
		name string
		args []string
		bad  []string
	}{
		{"library", []string{"../../stream/...", "../../config/...", "../../adapters/..."}, []string{"go.opentelemetry.io/otel/exporters/"}},
		{"lite CLI", []string{"-tags", "unistream_lite", "."}, []string{"go.opentelemetry.io/otel/exporters/otlp/", "google.golang.org/grpc"}},
		{"CLI", []string{"."}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command("go", append([]string{"list", "-deps"}, tt.args...)...).Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", strings.Join(tt.args, " "), err)
			}
			for pkg := range strings.Lines(string(out)) {
				for _, bad := range tt.bad {
					if strings.HasPrefix(pkg, bad) {
						t.Errorf("%s links %s", tt.name, strings.TrimSpace(pkg))
					}
				}
			}
			if tt.bad == nil && !strings.Contains(string(out), "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp\n") {
				t.Errorf("the CLI does not link the OTLP trace exporter: the test's graph is not the CLI's")
			}
		})
	}
}
