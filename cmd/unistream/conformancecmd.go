package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/unistream-go/unistream/conformance"
	"github.com/unistream-go/unistream/stream/checkpoint"
)

type conformanceOptions struct {
	stream     string
	checkpoint string
	run        string
	timeout    time.Duration
}

func newConformanceCmd(g *globals) *cobra.Command {
	var o conformanceOptions
	cmd := &cobra.Command{
		Use:   "conformance --stream URL-TEMPLATE [--checkpoint URL]",
		Short: "Run the conformance suite against your own cluster and print the scenario table",
		Long: `conformance runs every scenario of the conformance suite (the one each
adapter passes in CI) against your cluster, and prints the scenario table.

Every scenario needs fresh streams, so --stream is a URL template: {name}
becomes a fresh stream name and {partitions} the partition count, as in
  kafka://broker:9092/{name}?create_topic=true&partitions={partitions}
The scenarios run with the memory and the file checkpoint stores, and with
the store at --checkpoint if one is given. Fault injection and resharding
scenarios are skipped: they need an embedded broker. The exit status is 1
if a scenario failed.`,
		Example: `  unistream conformance --stream 'kafka://127.0.0.1:9092/{name}?create_topic=true&partitions={partitions}'
  unistream conformance --stream 'kafka://b:9092/{name}?create_topic=true&partitions={partitions}' --run 'retry|dlq'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.check(); err != nil {
				return err
			}
			return runConformance(cmd.Context(), g, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.stream, "stream", "", "stream URL template with {name} and {partitions} (required)")
	fs.StringVar(&o.checkpoint, "checkpoint", "", "also run the scenarios with this checkpoint store URL")
	fs.StringVar(&o.run, "run", "", "run only the scenarios matching this regular expression")
	fs.DurationVar(&o.timeout, "timeout", time.Minute, "failure timeout of each wait in a scenario")
	return cmd
}

func runConformance(ctx context.Context, g *globals, o conformanceOptions, stdout, stderr io.Writer) error {
	if o.stream == "" {
		return &usageError{fmt.Errorf("conformance: expected --stream URL-TEMPLATE, such as 'kafka://broker:9092/{name}?create_topic=true&partitions={partitions}'")}
	}
	if !strings.Contains(o.stream, "{name}") {
		return &usageError{fmt.Errorf("conformance --stream %q: the template has no {name}: every scenario needs fresh streams (such as kafka://broker:9092/{name}?create_topic=true&partitions={partitions})", o.stream)}
	}
	u, err := url.Parse(strings.NewReplacer("{name}", "x", "{partitions}", "1").Replace(o.stream))
	if err != nil || u.Scheme == "" {
		return &usageError{fmt.Errorf("conformance --stream %q: expected a URL template scheme://…/{name}?…", o.stream)}
	}
	var filter *regexp.Regexp
	if o.run != "" {
		if filter, err = regexp.Compile(o.run); err != nil {
			return &usageError{fmt.Errorf("conformance --run %q: %w", o.run, err)}
		}
	}
	if o.timeout <= 0 {
		return &usageError{fmt.Errorf("conformance --timeout %s: expected a positive duration", o.timeout)}
	}
	stores := conformance.DefaultStores()
	if o.checkpoint != "" {
		// Check the URL now, not in every scenario.
		s, err := checkpoint.Open(ctx, o.checkpoint)
		if err != nil {
			return err
		}
		checkpoint.CloseStore(s)
		stores = append(stores, conformance.StoreFactory{Name: "--checkpoint " + strings.SplitN(o.checkpoint, ":", 2)[0], New: func(t conformance.T) (checkpoint.Store, error) {
			s, err := checkpoint.Open(t.Context(), o.checkpoint)
			if err == nil {
				t.Cleanup(func() { checkpoint.CloseStore(s) })
			}
			return s, err
		}})
	}
	run := time.Now().UTC().Format("20060102t150405")
	var (
		mu sync.Mutex
		n  int
	)
	h := conformance.Harness{
		Name: u.Scheme,
		NewStream: func(t conformance.T, spec conformance.StreamSpec) (string, error) {
			mu.Lock()
			n++
			name := "conformance-" + run + "-" + strconv.Itoa(n)
			mu.Unlock()
			return strings.NewReplacer("{name}", name, "{partitions}", strconv.Itoa(spec.Partitions)).Replace(o.stream), nil
		},
		Stores:  stores,
		Timeout: o.timeout,
	}
	var log io.Writer
	if g.verbose {
		log = stderr
	}
	done := make(chan conformance.Report, 1)
	go func() { done <- conformance.RunStandalone(h, log, filter) }() // owned here: waited for below
	var rep conformance.Report
	select {
	case rep = <-done:
	case <-ctx.Done():
		fmt.Fprintln(stderr, "unistream: conformance: interrupted; waiting for the running scenario to end (Ctrl-C again to exit at once)")
		rep = <-done
	}
	if g.json() {
		writeJSON(stdout, rep)
	} else {
		var pass, skip, fail int
		for _, r := range rep.Results {
			switch r.Status {
			case conformance.Pass:
				pass++
			case conformance.Skip:
				skip++
			case conformance.Fail:
				fail++
			}
		}
		fmt.Fprintf(stdout, "conformance of %s: %d pass, %d skip, %d fail in %s (stream template %s)\n\n", u.Scheme, pass, skip, fail, rep.Elapsed.Round(time.Millisecond), o.stream)
		md := conformance.Markdown([]conformance.Report{rep})
		if i := strings.Index(md, "\n|"); i >= 0 { // the tables, without the report's heading
			md = md[i+1:]
		}
		fmt.Fprint(stdout, md)
	}
	if rep.Failed() {
		return &exitCodeError{code: exitError, err: fmt.Errorf("conformance: some scenarios failed on %s", u.Scheme)}
	}
	return nil
}
