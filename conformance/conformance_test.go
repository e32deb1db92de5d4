package conformance_test

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/unistream-go/unistream/conformance"
	"github.com/unistream-go/unistream/stream/memstream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var seq atomic.Uint64

// memHarness is a minimal memstream harness: fresh streams only.
func memHarness() conformance.Harness {
	return conformance.Harness{
		Name: "mem",
		NewStream: func(t conformance.T, spec conformance.StreamSpec) (string, error) {
			name := fmt.Sprintf("conformance-self-%d", seq.Add(1))
			t.Cleanup(func() { memstream.Default().Delete(name) })
			return fmt.Sprintf("mem://%s?partitions=%d", name, spec.Partitions), nil
		},
	}
}

func TestRunStandalonePassesAndSkipsByCapability(t *testing.T) {
	var log bytes.Buffer
	rep := conformance.RunStandalone(memHarness(), &log, regexp.MustCompile(`^(04_retry_backoff|12_pointer_codec|16_resharding)$`))
	if rep.Failed() {
		t.Fatalf("report failed:\n%s", log.String())
	}
	got := map[string]conformance.Status{}
	for _, r := range rep.Results {
		got[r.Scenario+"/"+r.Store] = r.Status
		if r.Status == conformance.Skip && !strings.Contains(r.Reason, "needs capability CanSplit") {
			t.Errorf("%s skipped with %q, want the missing capability named", r.Scenario, r.Reason)
		}
	}
	want := map[string]conformance.Status{
		"04_retry_backoff/memory": conformance.Pass, "04_retry_backoff/file": conformance.Pass,
		"12_pointer_codec/":    conformance.Pass,
		"16_resharding/memory": conformance.Skip, "16_resharding/file": conformance.Skip,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("results %v, want %v\nlog:\n%s", got, want, log.String())
	}
	if !strings.Contains(log.String(), "--- PASS: Conformance/04_retry_backoff/store=memory") {
		t.Errorf("log lacks the subtest lines:\n%s", log.String())
	}
}

func TestRunStandaloneReportsFailures(t *testing.T) {
	h := memHarness()
	h.NewStream = func(conformance.T, conformance.StreamSpec) (string, error) {
		return "", fmt.Errorf("cluster unreachable")
	}
	var log bytes.Buffer
	rep := conformance.RunStandalone(h, &log, regexp.MustCompile(`^12_pointer_codec$`))
	if !rep.Failed() || len(rep.Results) != 1 || !strings.Contains(rep.Results[0].Reason, "cluster unreachable") {
		t.Fatalf("report %+v, want one failure naming the harness error\n%s", rep, log.String())
	}
	if !strings.Contains(log.String(), "--- FAIL: Conformance/12_pointer_codec") {
		t.Errorf("log lacks the failure:\n%s", log.String())
	}
}

func TestTargets(t *testing.T) {
	tests := []struct {
		name, target, url string
		docker            bool
		needsDocker       bool
		want              string // a log fragment
	}{
		{"bad target", "cloud", "", false, false, `UNISTREAM_TARGET="cloud": expected embedded, containers or external`},
		{"containers without docker", "containers", "", false, true, "--- SKIP: Conformance"},
		{"containers, nothing to start", "containers", "", false, false, "--- PASS: Conformance/12_pointer_codec"},
		{"external without URL", "external", "", false, false, "set UNISTREAM_CONFORMANCE_URL_MEM or UNISTREAM_CONFORMANCE_URL"},
		{"external without {name}", "external", "mem://fixed", false, false, "has no {name}"},
		{"external", "external", "mem://ext-{name}?partitions={partitions}", false, false, "--- PASS: Conformance/12_pointer_codec"},
	}
	saved := conformance.DockerReachable
	t.Cleanup(func() { conformance.DockerReachable = saved })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(conformance.EnvTarget, tt.target)
			t.Setenv(conformance.EnvURL, tt.url)
			conformance.DockerReachable = func() bool { return tt.docker }
			h := memHarness()
			h.NeedsDocker = tt.needsDocker
			var log bytes.Buffer
			conformance.RunStandalone(h, &log, regexp.MustCompile(`^12_pointer_codec$`))
			if !strings.Contains(log.String(), tt.want) {
				t.Fatalf("log lacks %q:\n%s", tt.want, log.String())
			}
			if tt.needsDocker && !strings.Contains(log.String(), "no Docker engine reachable") {
				t.Fatalf("skip reason not given:\n%s", log.String())
			}
		})
	}
}

func TestHarnessValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*conformance.Harness)
		want string
	}{
		{"ok", func(*conformance.Harness) {}, ""},
		{"no name", func(h *conformance.Harness) { h.Name = "" }, "Name is empty"},
		{"no streams", func(h *conformance.Harness) { h.NewStream = nil }, "NewStream is nil"},
		{"faults without hook", func(h *conformance.Harness) { h.CanInjectFaults = true }, "Faults is nil"},
		{"split without hook", func(h *conformance.Harness) { h.CanSplit = true }, "Split is nil"},
		{"store without name", func(h *conformance.Harness) { h.Stores = []conformance.StoreFactory{{}} }, "Stores[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := memHarness()
			tt.edit(&h)
			err := h.Validate()
			if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

// goTestJSON is a trimmed `go test -json` run of two scenarios with
// stores, a skipped one, a failing one and a skipped part.
const goTestJSON = `{"Action":"start","Package":"example.com/x/adapters/kafka"}
{"Action":"run","Package":"example.com/x/adapters/kafka","Test":"TestConformance"}
{"Action":"output","Package":"example.com/x/adapters/kafka","Test":"TestConformance","Output":"    zz_generated_conformance_test.go:9: conformance: backend=kafka target=embedded\n"}
{"Action":"run","Package":"example.com/x/adapters/kafka","Test":"TestConformance/04_retry_backoff"}
{"Action":"run","Package":"example.com/x/adapters/kafka","Test":"TestConformance/04_retry_backoff/store=memory"}
{"Action":"pass","Package":"example.com/x/adapters/kafka","Test":"TestConformance/04_retry_backoff/store=memory","Elapsed":0.5}
{"Action":"run","Package":"example.com/x/adapters/kafka","Test":"TestConformance/04_retry_backoff/store=file"}
{"Action":"output","Package":"example.com/x/adapters/kafka","Test":"TestConformance/04_retry_backoff/store=file","Output":"    scen_consumer.go:300: no_jitter: handler calls [a b], want [a b b]\n"}
{"Action":"output","Package":"example.com/x/adapters/kafka","Test":"TestConformance/04_retry_backoff/store=file","Output":"        more detail\n"}
{"Action":"fail","Package":"example.com/x/adapters/kafka","Test":"TestConformance/04_retry_backoff/store=file","Elapsed":0.7}
{"Action":"fail","Package":"example.com/x/adapters/kafka","Test":"TestConformance/04_retry_backoff","Elapsed":1.2}
{"Action":"run","Package":"example.com/x/adapters/kafka","Test":"TestConformance/12_pointer_codec"}
{"Action":"pass","Package":"example.com/x/adapters/kafka","Test":"TestConformance/12_pointer_codec","Elapsed":0.1}
{"Action":"run","Package":"example.com/x/adapters/kafka","Test":"TestConformance/14_transient_faults/store=memory/dropped_connections"}
{"Action":"output","Package":"example.com/x/adapters/kafka","Test":"TestConformance/14_transient_faults/store=memory/dropped_connections","Output":"    scen_other.go:88: needs capability X\n"}
{"Action":"output","Package":"example.com/x/adapters/kafka","Test":"TestConformance/14_transient_faults/store=memory/dropped_connections","Output":"--- SKIP: TestConformance/14_transient_faults/store=memory/dropped_connections (0.00s)\n"}
{"Action":"skip","Package":"example.com/x/adapters/kafka","Test":"TestConformance/14_transient_faults/store=memory/dropped_connections","Elapsed":0}
{"Action":"pass","Package":"example.com/x/adapters/kafka","Test":"TestConformance/14_transient_faults/store=memory","Elapsed":0.2}
{"Action":"pass","Package":"example.com/x/adapters/kafka","Test":"TestConformance/14_transient_faults","Elapsed":0.2}
{"Action":"run","Package":"example.com/x/adapters/kafka","Test":"TestConformance/16_resharding"}
{"Action":"output","Package":"example.com/x/adapters/kafka","Test":"TestConformance/16_resharding","Output":"    scen_other.go:190: needs capability Resharding, not declared by backend kafka\n"}
{"Action":"skip","Package":"example.com/x/adapters/kafka","Test":"TestConformance/16_resharding","Elapsed":0}
{"Action":"fail","Package":"example.com/x/adapters/kafka","Test":"TestConformance","Elapsed":2.5}
{"Action":"run","Package":"example.com/x/stream","Test":"TestOther"}
{"Action":"pass","Package":"example.com/x/stream","Test":"TestOther","Elapsed":0.1}
not json: a build failure line
`

func TestParseTestJSONAndMarkdown(t *testing.T) {
	reps, err := conformance.ParseTestJSON(strings.NewReader(goTestJSON))
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 1 || reps[0].Backend != "kafka" || reps[0].Target != conformance.Embedded {
		t.Fatalf("reports %+v, want one for kafka", reps)
	}
	var got []string
	for _, r := range reps[0].Results {
		got = append(got, fmt.Sprintf("%s/%s=%s:%s%v", r.Scenario, r.Store, r.Status, r.Reason, r.Notes))
	}
	want := []string{
		"04_retry_backoff/memory=pass:[]",
		"04_retry_backoff/file=fail:no_jitter: handler calls [a b], want [a b b] more detail[]",
		"12_pointer_codec/=pass:[]",
		"14_transient_faults/memory=pass:[dropped_connections: needs capability X]",
		"16_resharding/=skip:needs capability Resharding, not declared by backend kafka[]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("results:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	md := conformance.Markdown(reps)
	for _, frag := range []string{
		"| kafka | embedded | 3 | 1 | 1 | 2.5s |",
		"| scenario | kafka · memory | kafka · file |",
		"| 04 retry backoff | pass | **FAIL** [1] |",
		"| 12 pointer codec | pass | pass |",
		"| 14 transient faults | pass, 1 part(s) skipped [2] | — |",
		"| 16 resharding | skip [3] | skip [3] |",
		"3. needs capability Resharding, not declared by backend kafka",
	} {
		if !strings.Contains(md, frag) {
			t.Errorf("Markdown lacks %q:\n%s", frag, md)
		}
	}
}

func TestParseTestJSONTimeoutAndFreshNames(t *testing.T) {
	const in = `{"Action":"run","Package":"p/kafka","Test":"TestConformance"}
{"Action":"run","Package":"p/kafka","Test":"TestConformance/01_round_trip"}
{"Action":"run","Package":"p/kafka","Test":"TestConformance/01_round_trip/store=memory"}
{"Action":"output","Package":"p/kafka","Test":"TestConformance/01_round_trip/store=memory","Output":"    env.go:1: Write: conformance-3: timed out\n"}
{"Action":"fail","Package":"p/kafka","Test":"TestConformance/01_round_trip/store=memory","Elapsed":1}
{"Action":"run","Package":"p/kafka","Test":"TestConformance/01_round_trip/store=file"}
{"Action":"output","Package":"p/kafka","Test":"TestConformance/01_round_trip/store=file","Output":"    env.go:1: Write: conformance-4: timed out\n"}
{"Action":"fail","Package":"p/kafka","Test":"TestConformance/01_round_trip/store=file","Elapsed":1}
{"Action":"fail","Package":"p/kafka","Test":"TestConformance/01_round_trip","Elapsed":2}
{"Action":"run","Package":"p/kafka","Test":"TestConformance/02_graceful_stop_resume"}
{"Action":"run","Package":"p/kafka","Test":"TestConformance/02_graceful_stop_resume/store=memory"}
{"Action":"output","Package":"p/kafka","Output":"panic: test timed out after 20m0s\n"}
{"Action":"fail","Package":"p/kafka","Elapsed":1200.5}
`
	reps, err := conformance.ParseTestJSON(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 1 || reps[0].Elapsed.Seconds() != 1200.5 {
		t.Fatalf("reports %+v, want one with the package's elapsed time", reps)
	}
	last := reps[0].Results[len(reps[0].Results)-1]
	if last.Scenario != "02_graceful_stop_resume" || last.Status != conformance.Fail || !strings.Contains(last.Reason, "panic: test timed out") {
		t.Fatalf("unfinished scenario %+v, want a failure naming the timeout", last)
	}
	md := conformance.Markdown(reps)
	if !strings.Contains(md, "| 01 round trip | **FAIL** [1] | **FAIL** [1] |") || !strings.Contains(md, "1. Write: conformance-N: timed out") {
		t.Fatalf("fresh stream names not normalised in the notes:\n%s", md)
	}
}
