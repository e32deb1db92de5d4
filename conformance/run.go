package conformance

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// Run runs every scenario against the backend h describes, as subtests of
// t: one per scenario ("04_retry"), and within a scenario that uses a
// checkpoint store one per store ("store=memory", "store=file"). t is a
// *testing.T: conformance.Run(t, h) in a test function.
func Run[TT Testing[TT]](t TT, h Harness) {
	t.Helper()
	RunT(FromTesting(t), h)
}

// Status is a scenario's outcome.
type Status string

// The outcomes.
const (
	// Pass: every assertion held.
	Pass Status = "pass"
	// Fail: an assertion failed; Result.Reason is the first message.
	Fail Status = "fail"
	// Skip: a capability is missing (or a known bug showed); Result.Reason
	// says which.
	Skip Status = "skip"
)

// Result is the outcome of one scenario with one store.
type Result struct {
	// Scenario is the scenario's subtest name, such as "04_retry".
	Scenario string
	// Store is the checkpoint store's name, or "" for a scenario without one.
	Store string
	// Status is pass, fail or skip.
	Status Status
	// Reason is the skip message, or the first failure message.
	Reason string
	// Notes are the skip messages of parts of a scenario that passed.
	Notes []string
	// Streams are the streams the scenario made, in order, and what
	// became of them when it ended.
	Streams []StreamUse `json:",omitempty"`
	// Elapsed is the scenario's run time.
	Elapsed time.Duration
}

// Report is the outcome of a suite run against one backend.
type Report struct {
	// Backend is Harness.Name.
	Backend string
	// Target is the target the suite ran on.
	Target Target
	// Results are in run order.
	Results []Result
	// Elapsed is the whole run's time.
	Elapsed time.Duration
}

// Failed reports whether a scenario failed.
func (r Report) Failed() bool {
	for _, res := range r.Results {
		if res.Status == Fail {
			return true
		}
	}
	return false
}

// BackendMarker starts the log line Run writes first, which the report
// parser reads to name the backend of a test binary's output.
const BackendMarker = "conformance: backend="

// RunT runs the suite on any T and returns the report; Run and
// RunStandalone call it. Use it to run the suite under a custom T.
func RunT(t T, h Harness) Report {
	t.Helper()
	var rep Report
	runT(t, h, &rep)
	return rep
}

// runT fills *rep as it goes, so a caller keeps what ran even if t stops.
func runT(t T, h Harness, rep *Report) {
	t.Helper()
	start := time.Now()
	rep.Backend = h.Name
	defer func() { rep.Elapsed = time.Since(start) }()
	if err := h.Validate(); err != nil {
		t.Fatalf("%v", err)
	}
	target := h.Target
	if target == "" {
		var err error
		if target, err = CurrentTarget(); err != nil {
			t.Fatalf("%v", err)
		}
	}
	rep.Target = target
	h.ledger = newLedger(h.MaxShards)
	if v := os.Getenv(EnvTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("conformance: %s=%q: expected a positive Go duration such as 30s", EnvTimeout, v)
		}
		h.Timeout = d
	}
	t.Logf("%s%s target=%s", BackendMarker, h.Name, target)
	switch target {
	case Containers:
		if h.NeedsDocker && !DockerReachable() {
			t.Skipf("no Docker engine reachable (UNISTREAM_TARGET=containers, backend %s)", h.Name)
		}
	case External:
		// An external cluster has no fault injection and no split hook.
		h.CanInjectFaults, h.Faults, h.CanSplit, h.Split = false, nil, false, nil
		if h.Target == External {
			break // NewStream makes the streams on the user's cluster
		}
		tmpl, ok := ExternalURLTemplate(h.Name)
		if !ok {
			t.Skipf("UNISTREAM_TARGET=external: set %s_%s or %s to a stream URL template with {name} and {partitions}",
				EnvURL, strings.ToUpper(h.Name), EnvURL)
		}
		if !strings.Contains(tmpl, "{name}") {
			t.Fatalf("UNISTREAM_TARGET=external: the URL template %q has no {name}: every scenario needs fresh streams", tmpl)
		}
		// The harness's DeleteStream is for its own broker, not the
		// template's cluster: the streams stay, and the report says so.
		h.NewStream, h.DeleteStream = externalStreams(tmpl), nil
	}
	stores := h.Stores
	if stores == nil {
		stores = DefaultStores()
	}
	var mu sync.Mutex
	add := func(r Result) {
		mu.Lock()
		rep.Results = append(rep.Results, r)
		mu.Unlock()
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t T) {
			if !sc.usesStore {
				runScenario(t, &h, sc, StoreFactory{}, add)
				return
			}
			list := stores
			if sc.group && h.GroupStores != nil {
				list = h.GroupStores
			}
			if sc.leases && h.LeaseStores != nil {
				list = h.LeaseStores
			}
			for _, sf := range list {
				t.Run("store="+sf.Name, func(t T) { runScenario(t, &h, sc, sf, add) })
			}
		})
	}
}

var externalSeq struct {
	sync.Mutex
	n int
}

// externalStreams returns a NewStream that fills the URL template.
func externalStreams(tmpl string) func(T, StreamSpec) (string, error) {
	run := time.Now().UTC().Format("20060102t150405")
	return func(t T, spec StreamSpec) (string, error) {
		externalSeq.Lock()
		externalSeq.n++
		n := externalSeq.n
		externalSeq.Unlock()
		name := fmt.Sprintf("conformance-%s-%d", run, n)
		return strings.NewReplacer("{name}", name, "{partitions}", fmt.Sprint(spec.Partitions)).Replace(tmpl), nil
	}
}

// recT wraps a scenario's T to remember why it was skipped or failed.
type recT struct {
	T
	rec *record
}

// record collects the messages of one scenario run; a nested part's record
// reports to its parent's.
type record struct {
	mu     sync.Mutex
	parent *record
	skip   string
	fail   string
	notes  []string
	// streams are the streams of the scenario (kept on the root record).
	streams []StreamUse
}

func (r *record) addStream(u StreamUse) {
	r.mu.Lock()
	r.streams = append(r.streams, u)
	r.mu.Unlock()
}

func (r *record) root() *record {
	for r.parent != nil {
		r = r.parent
	}
	return r
}

func (r *recT) Errorf(format string, args ...any) {
	r.T.Helper()
	r.rec.noteFail(fmt.Sprintf(format, args...))
	r.T.Errorf(format, args...)
}

func (r *recT) Fatalf(format string, args ...any) {
	r.T.Helper()
	r.rec.noteFail(fmt.Sprintf(format, args...))
	r.T.Fatalf(format, args...)
}

func (r *recT) Skipf(format string, args ...any) {
	r.T.Helper()
	msg := fmt.Sprintf(format, args...)
	if r.rec.parent == nil {
		r.rec.mu.Lock()
		r.rec.skip = msg
		r.rec.mu.Unlock()
	} else {
		root := r.rec.root()
		root.mu.Lock()
		root.notes = append(root.notes, r.T.Name()[strings.LastIndexByte(r.T.Name(), '/')+1:]+": "+msg)
		root.mu.Unlock()
	}
	r.T.Skipf(format, args...)
}

func (r *recT) Run(name string, f func(T)) bool {
	return r.T.Run(name, func(t T) {
		f(&recT{T: t, rec: &record{parent: r.rec}})
	})
}

func (r *record) noteFail(msg string) {
	for ; r != nil; r = r.parent {
		r.mu.Lock()
		if r.fail == "" {
			r.fail = msg
		}
		r.mu.Unlock()
	}
}

// runScenario runs one scenario with one store on t and passes its result
// to add, also when the scenario stops with Fatalf or Skipf. The result is
// taken in t's last cleanup, after the scenario's streams were deleted (a
// failed deletion fails the scenario).
func runScenario(t T, h *Harness, sc scenario, sf StoreFactory, add func(Result)) {
	start := time.Now()
	rec := &record{}
	t.Cleanup(func() {
		res := Result{Scenario: sc.name, Store: sf.Name, Elapsed: time.Since(start)}
		rec.mu.Lock()
		res.Notes, res.Streams = rec.notes, rec.streams
		switch {
		case t.Failed():
			res.Status, res.Reason = Fail, rec.fail
		case t.Skipped():
			res.Status, res.Reason = Skip, rec.skip
		default:
			res.Status = Pass
		}
		rec.mu.Unlock()
		add(res)
	})
	rt := &recT{T: t, rec: rec}
	e := newEnv(rt, h, sf)
	e.plainReady = plainReady[sc.name]
	sc.run(e)
}
