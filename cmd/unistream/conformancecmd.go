package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"sort"
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
	keep       bool
	maxShards  int
}

func newConformanceCmd(g *globals) *cobra.Command {
	var o conformanceOptions
	cmd := &cobra.Command{
		Use:   "conformance --stream URL-TEMPLATE [--checkpoint URL] [--keep] [--max-shards N]",
		Short: "Run the conformance suite against your own cluster and print the scenario table",
		Long: `conformance runs every scenario of the conformance suite (the one each
adapter passes in CI) against your cluster, and prints the scenario table.

Every scenario needs fresh streams, so --stream is a URL template: {name}
becomes a fresh stream name and {partitions} the partition count, as in
  kafka://broker:9092/{name}?create_topic=true&partitions={partitions}
The scenarios run with the memory and the file checkpoint stores, and with
the store at --checkpoint if one is given. Fault injection and resharding
scenarios are skipped: they need an embedded broker. The report labels the
run "external".

Each stream a scenario creates is deleted when the scenario ends, with the
backend's admin API (Kafka DeleteTopics, Kinesis DeleteStream, Pulsar's
admin REST API, which needs a URL with lookup=http); --keep keeps them.
After the table, a summary per scenario says what was created and deleted,
and names every stream left behind. On Kinesis, which bills and limits per
shard, the shards of the streams the run created and has not deleted never
exceed --max-shards: a deleted stream counts until it is gone (DELETING
counts against the account's limit), and a stream that would go over the
budget is not created: its scenario fails, naming the budget and the need
(scenarios run one at a time, so with deletion each starts with the whole
budget; with --keep the kept streams use it up). The exit status is 1 if a
scenario failed or a stream could not be deleted.`,
		Example: `  unistream conformance --stream 'kafka://127.0.0.1:9092/{name}?create_topic=true&partitions={partitions}'
  unistream conformance --stream 'kafka://b:9092/{name}?create_topic=true&partitions={partitions}' --run 'retry|dlq'
  unistream conformance --stream 'kinesis://{name}?region=eu-west-1&create_stream=true&shards={partitions}' --max-shards 20`,
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
	fs.BoolVar(&o.keep, "keep", false, "keep the streams the scenarios create (by default each is deleted when its scenario ends)")
	fs.IntVar(&o.maxShards, "max-shards", 10, "Kinesis: at most this many shards of streams the run created may exist at once (0: no budget)")
	return cmd
}

func runConformance(ctx context.Context, g *globals, o conformanceOptions, stdout, stderr io.Writer) error {
	u, filter, err := checkConformanceOptions(o)
	if err != nil {
		return err
	}
	admin := streamAdmins[u.Scheme]
	if admin.delete == nil && !o.keep {
		return &usageError{fmt.Errorf("conformance --stream %q: this binary cannot delete %s streams (it deletes %s ones): pass --keep to run and keep them", o.stream, u.Scheme, adminSchemes())}
	}
	stores, err := conformanceStores(ctx, o)
	if err != nil {
		return err
	}
	h, unit := conformanceHarness(u.Scheme, o, admin, stores)
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
		writeConformanceText(stdout, u.Scheme, o.stream, unit, rep)
	}
	if rep.Failed() {
		return &exitCodeError{code: exitError, err: fmt.Errorf("conformance: some scenarios failed on %s", u.Scheme)}
	}
	return nil
}

// checkConformanceOptions checks the flags of conformance and returns the
// stream template as a URL and the --run filter (nil: every scenario).
func checkConformanceOptions(o conformanceOptions) (*url.URL, *regexp.Regexp, error) {
	if o.stream == "" {
		return nil, nil, &usageError{fmt.Errorf("conformance: expected --stream URL-TEMPLATE, such as 'kafka://broker:9092/{name}?create_topic=true&partitions={partitions}'")}
	}
	if !strings.Contains(o.stream, "{name}") {
		return nil, nil, &usageError{fmt.Errorf("conformance --stream %q: the template has no {name}: every scenario needs fresh streams (such as kafka://broker:9092/{name}?create_topic=true&partitions={partitions})", o.stream)}
	}
	u, err := url.Parse(strings.NewReplacer("{name}", "x", "{partitions}", "1").Replace(o.stream))
	if err != nil || u.Scheme == "" {
		return nil, nil, &usageError{fmt.Errorf("conformance --stream %q: expected a URL template scheme://…/{name}?…", o.stream)}
	}
	var filter *regexp.Regexp
	if o.run != "" {
		if filter, err = regexp.Compile(o.run); err != nil {
			return nil, nil, &usageError{fmt.Errorf("conformance --run %q: %w", o.run, err)}
		}
	}
	if o.timeout <= 0 {
		return nil, nil, &usageError{fmt.Errorf("conformance --timeout %s: expected a positive duration", o.timeout)}
	}
	if o.maxShards < 0 {
		return nil, nil, &usageError{fmt.Errorf("conformance --max-shards %d: expected 0 (no budget) or a positive number of shards", o.maxShards)}
	}
	return u, filter, nil
}

// conformanceStores gives the checkpoint stores the scenarios run with:
// the default ones, and the store at --checkpoint if one is given.
func conformanceStores(ctx context.Context, o conformanceOptions) ([]conformance.StoreFactory, error) {
	stores := conformance.DefaultStores()
	if o.checkpoint == "" {
		return stores, nil
	}
	// Check the URL now, not in every scenario.
	s, err := checkpoint.Open(ctx, o.checkpoint)
	if err != nil {
		return nil, err
	}
	checkpoint.CloseStore(s)
	return append(stores, conformance.StoreFactory{Name: "--checkpoint " + strings.SplitN(o.checkpoint, ":", 2)[0], New: func(t conformance.T) (checkpoint.Store, error) {
		s, err := checkpoint.Open(t.Context(), o.checkpoint)
		if err == nil {
			t.Cleanup(func() { checkpoint.CloseStore(s) })
		}
		return s, err
	}}), nil
}

// conformanceHarness builds the harness of a run on the backend of
// scheme, and names the unit its streams are counted in.
func conformanceHarness(scheme string, o conformanceOptions, admin streamAdmin, stores []conformance.StoreFactory) (conformance.Harness, string) {
	run := time.Now().UTC().Format("20060102t150405")
	var (
		mu sync.Mutex
		n  int
	)
	h := conformance.Harness{
		Name: scheme,
		NewStream: func(t conformance.T, spec conformance.StreamSpec) (string, error) {
			mu.Lock()
			n++
			name := "conformance-" + run + "-" + strconv.Itoa(n)
			mu.Unlock()
			return strings.NewReplacer("{name}", name, "{partitions}", strconv.Itoa(spec.Partitions)).Replace(o.stream), nil
		},
		KeepStreams: o.keep,
		Target:      conformance.External,
		Stores:      stores,
		Timeout:     o.timeout,
	}
	if admin.delete != nil {
		h.DeleteStream = func(_ conformance.T, url string) error {
			// Not the scenario's context, which has ended: an interrupted
			// run still deletes its streams.
			return admin.delete(context.Background(), url)
		}
	}
	unit := "partitions"
	if admin.perShard {
		h.MaxShards, unit = o.maxShards, "shards"
	}
	return h, unit
}

// writeConformanceText prints the text report of a run: the counts, the
// scenario tables and the stream summary.
func writeConformanceText(w io.Writer, scheme, template, unit string, rep conformance.Report) {
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
	fmt.Fprintf(w, "conformance of %s: %d pass, %d skip, %d fail in %s (stream template %s)\n\n", scheme, pass, skip, fail, rep.Elapsed.Round(time.Millisecond), template)
	md := conformance.Markdown([]conformance.Report{rep})
	if i := strings.Index(md, "\n|"); i >= 0 { // the tables, without the report's heading
		md = md[i+1:]
	}
	fmt.Fprint(w, md)
	writeStreamSummary(w, rep, unit)
}

// adminSchemes lists the schemes whose streams this binary can delete.
func adminSchemes() string {
	var n []string
	for s, a := range streamAdmins {
		if a.delete != nil {
			n = append(n, s)
		}
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

// writeStreamSummary prints what each scenario created and what became of
// it, then the totals, and names every stream kept or left behind.
func writeStreamSummary(w io.Writer, rep conformance.Report, unit string) {
	var created, parts, deleted int
	var kept, left []string
	fmt.Fprintf(w, "\nStreams (deleted when their scenario ends unless --keep):\n")
	for _, r := range rep.Results {
		if len(r.Streams) == 0 {
			continue
		}
		n, d, k, p := 0, 0, 0, 0
		for _, s := range r.Streams {
			n++
			p += s.Partitions
			switch s.State {
			case conformance.StreamDeleted:
				d++
			case conformance.StreamKept:
				k++
				kept = append(kept, s.Name)
			default:
				left = append(left, fmt.Sprintf("%s (%d %s): %s", s.Name, s.Partitions, unit, s.Err))
			}
		}
		created, parts, deleted = created+n, parts+p, deleted+d
		name := r.Scenario
		if r.Store != "" {
			name += " · " + r.Store
		}
		line := fmt.Sprintf("  %s: created %d (%d %s), deleted %d", name, n, p, unit, d)
		if k > 0 {
			line += fmt.Sprintf(", kept %d", k)
		}
		if n-d-k > 0 {
			line += fmt.Sprintf(", NOT deleted %d", n-d-k)
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "Created %d streams (%d %s): %d deleted, %d kept, %d not deleted.\n", created, parts, unit, deleted, len(kept), len(left))
	if len(kept) > 0 {
		fmt.Fprintf(w, "Kept (--keep): %s\n", strings.Join(kept, " "))
	}
	if len(left) > 0 {
		fmt.Fprintln(w, "NOT deleted (they may still exist; delete them with the backend's tools):")
		for _, l := range left {
			fmt.Fprintln(w, "  "+l)
		}
	}
}
