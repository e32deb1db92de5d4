// Command report turns the output of `go test -json` over conformance
// tests into the backend × scenario matrix of conformance/REPORT.md.
//
//	go test -race -json -run '^TestConformance$' ./... > results.json
//	go run ./conformance/cmd/report -o conformance/REPORT.md results.json
//
// It reads standard input when no file is given and writes standard
// output when -o is not set. It exits 1 when the input holds no
// conformance run or cannot be read, not when scenarios failed: the test
// run's own status says that.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/unistream-go/unistream/conformance"
)

func main() {
	out := flag.String("o", "", "write the report to this file instead of standard output")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: report [-o REPORT.md] [go-test-json-file]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(out string, args []string) error {
	var in io.Reader = os.Stdin
	switch len(args) {
	case 0:
	case 1:
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	default:
		return fmt.Errorf("expected at most one input file, got %d", len(args))
	}
	reps, err := conformance.ParseTestJSON(in)
	if err != nil {
		return err
	}
	if len(reps) == 0 {
		return fmt.Errorf("no TestConformance results in the input (did the test binaries build?)")
	}
	md := conformance.Markdown(reps)
	if out == "" {
		_, err := io.WriteString(os.Stdout, md)
		return err
	}
	if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
		return err
	}
	for _, r := range reps {
		var failed int
		for _, res := range r.Results {
			if res.Status == conformance.Fail {
				failed++
			}
		}
		fmt.Fprintf(os.Stderr, "report: %s: %d results, %d failed, %s\n", r.Backend, len(r.Results), failed, r.Elapsed)
	}
	fmt.Fprintf(os.Stderr, "report: wrote %s\n", out)
	return nil
}
