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
