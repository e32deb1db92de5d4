package conformance

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
)

// The leak check is the suite's own rather than a test library's, so that
// the suite can run from the shipped CLI (`unistream conformance`) without
// linking test machinery, and so that it waits as long as the clients may
// take to shut down on a busy machine (the suite's timeout), not a fixed
// couple of seconds.

// goroutine is one goroutine of a runtime.Stack dump.
type goroutine struct {
	id    string // the number after "goroutine"
	stack string // the whole entry, header included
}

// goroutines returns every goroutine of the process.
func goroutines() []goroutine {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []goroutine
	for _, entry := range bytes.Split(buf, []byte("\n\n")) {
		header, _, _ := bytes.Cut(entry, []byte("\n"))
		f := strings.Fields(string(header)) // goroutine 7 [chan receive]:
		if len(f) < 2 || f[0] != "goroutine" {
			continue
		}
		out = append(out, goroutine{id: f[1], stack: string(entry)})
	}
	return out
}

// ownedElsewhere names functions whose goroutines are not the clients':
// the test framework's, the signal handler's and the runtime's own.
var ownedElsewhere = []string{
	"testing.tRunner(", "testing.(*T).Run(", "testing.runTests(", "testing.(*M).",
	"os/signal.signal_recv(", "os/signal.loop(", "runtime.ensureSigM(",
	"runtime/trace.Start.", "runtime.ReadTrace(",
}

// leakCheck remembers the goroutines that ran when it was made.
type leakCheck struct {
	before map[string]bool
	ignore []string // functions whose goroutines are not counted
}

// newLeakCheck snapshots the goroutines running now; ignore names more
// functions (as in a stack trace: "pkg.Func" or "pkg.(*T).Method") whose
// goroutines are not counted.
func newLeakCheck(ignore []string) *leakCheck {
	lc := &leakCheck{before: map[string]bool{}, ignore: ignore}
	for _, g := range goroutines() {
		lc.before[g.id] = true
	}
	return lc
}

// leaked returns the goroutines started since the snapshot that still run
// and belong to no ignored function.
func (lc *leakCheck) leaked() []goroutine {
	var out []goroutine
	for _, g := range goroutines() {
		if lc.before[g.id] || lc.ignored(g.stack) {
			continue
		}
		out = append(out, g)
	}
	return out
}

func (lc *leakCheck) ignored(stack string) bool {
	if slices.ContainsFunc(ownedElsewhere, func(f string) bool { return strings.Contains(stack, f) }) {
		return true
	}
	for _, f := range lc.ignore {
		// A frame is "pkg.Func(args)" at a line start.
		if strings.Contains(stack, "\n"+f+"(") {
			return true
		}
	}
	return false
}

// wait polls until no goroutine is left or timeout passes, and returns an
// error listing what is left then. Clients end their goroutines on their
// own schedule after Close returns (a connection's reader sees the socket
// close), so the check waits for that rather than judging at once.
func (lc *leakCheck) wait(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for {
		left := lc.leaked()
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			stacks := make([]string, len(left))
			for i, g := range left {
				stacks[i] = g.stack
			}
			return fmt.Errorf("%d goroutine(s) still running %v after the close:\n\n%s", len(left), timeout, strings.Join(stacks, "\n\n"))
		}
		time.Sleep(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
}
