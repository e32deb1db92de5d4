package conformance

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
)

// Common is every method of T but Run: the part of testing.TB the
// scenarios use, so that the suite also runs outside go test (see
// RunStandalone). Fatalf, Skipf and FailNow stop the calling goroutine, as
// in package testing: call them only from the goroutine running the test.
type Common interface {
	// Name returns the test's full name.
	Name() string
	// Helper marks the caller as a helper function.
	Helper()
	// Logf records a line of log.
	Logf(format string, args ...any)
	// Errorf records a failure and goes on.
	Errorf(format string, args ...any)
	// Fatalf records a failure and stops the test.
	Fatalf(format string, args ...any)
	// Skipf records why the test is skipped and stops it.
	Skipf(format string, args ...any)
	// Failed reports whether the test has failed.
	Failed() bool
	// Skipped reports whether the test was skipped.
	Skipped() bool
	// Cleanup registers f to run when the test and its subtests end,
	// last registered first.
	Cleanup(f func())
	// TempDir returns a new directory removed when the test ends.
	TempDir() string
	// Context is cancelled just before the cleanups run.
	Context() context.Context
}

// T is what the scenarios run on: a *testing.T (through FromTesting), or
// the suite's own T outside go test (RunStandalone).
type T interface {
	Common
	// Run runs f as a subtest called name and reports whether it passed
	// (or was skipped).
	Run(name string, f func(t T)) bool
}

// Testing is what Run and FromTesting need of a test: the methods of T,
// with a Run that passes subtests as the test's own type. *testing.T
// satisfies Testing[*testing.T]; the suite names no type of package
// testing, so that the shipped CLI, which runs the suite through
// RunStandalone, does not link package testing.
type Testing[TT any] interface {
	Common
	// Run runs f as a subtest called name and reports whether it passed.
	Run(name string, f func(TT)) bool
}

// testingT adapts a Testing to T. The Common methods are promoted from the
// embedded interface (compiler-made wrappers, which package testing's
// Helper and its line reports skip); only Run converts.
type testingT[TT Testing[TT]] struct {
	Common
	t TT
}

func (t testingT[TT]) Run(name string, f func(T)) bool {
	return t.t.Run(name, func(st TT) { f(testingT[TT]{Common: st, t: st}) })
}

// FromTesting returns t, a *testing.T for example, as a T.
func FromTesting[TT Testing[TT]](t TT) T { return testingT[TT]{Common: t, t: t} }

// standaloneT is a T outside package testing: each Run runs its function
// on a new goroutine and waits; Fatalf and Skipf end that goroutine.
type standaloneT struct {
	name   string
	out    io.Writer
	outMu  *sync.Mutex
	filter *regexp.Regexp
	parent *standaloneT
	depth  int

	mu       sync.Mutex
	failed   bool
	skipped  bool
	cleanups []func()
	ctx      context.Context
	cancel   context.CancelFunc
}

// RunStandalone runs the suite against h outside go test, writing a
// go-test-like log to out, and returns the report. filter, if not nil,
// selects the scenarios whose names it matches (for example
// regexp.MustCompile("retry|dlq")). This is what a command such as
// `unistream conformance --stream URL` calls.
func RunStandalone(h Harness, out io.Writer, filter *regexp.Regexp) Report {
	root := newStandalone("Conformance", out, &sync.Mutex{}, filter, nil)
	var rep Report
	root.runFunc(func(t T) { runT(t, h, &rep) })
	return rep
}

func newStandalone(name string, out io.Writer, outMu *sync.Mutex, filter *regexp.Regexp, parent *standaloneT) *standaloneT {
	st := &standaloneT{name: name, out: out, outMu: outMu, filter: filter, parent: parent}
	if parent != nil {
		st.depth = parent.depth + 1
	}
	st.ctx, st.cancel = context.WithCancel(context.Background())
	return st
}

func (t *standaloneT) printf(format string, args ...any) {
	if t.out == nil {
		return
	}
	t.outMu.Lock()
	defer t.outMu.Unlock()
	fmt.Fprintf(t.out, "%s"+format+"\n", append([]any{strings.Repeat("    ", t.depth)}, args...)...)
}

func (t *standaloneT) Name() string { return t.name }
func (t *standaloneT) Helper()      {}
func (t *standaloneT) Logf(format string, args ...any) {
	t.printf("    "+format, args...)
}

func (t *standaloneT) fail() {
	for p := t; p != nil; p = p.parent {
		p.mu.Lock()
		p.failed = true
		p.mu.Unlock()
	}
}

func (t *standaloneT) Errorf(format string, args ...any) {
	t.printf("    "+format, args...)
	t.fail()
}

func (t *standaloneT) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	runtime.Goexit()
}

func (t *standaloneT) Skipf(format string, args ...any) {
	t.printf("    "+format, args...)
	t.mu.Lock()
	t.skipped = true
	t.mu.Unlock()
	runtime.Goexit()
}

func (t *standaloneT) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

func (t *standaloneT) Skipped() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.skipped
}

func (t *standaloneT) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *standaloneT) TempDir() string {
	dir, err := os.MkdirTemp("", "conformance-")
	if err != nil {
		t.Fatalf("TempDir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (t *standaloneT) Context() context.Context { return t.ctx }

func (t *standaloneT) Run(name string, f func(T)) bool {
	full := t.name + "/" + strings.ReplaceAll(name, " ", "_")
	if t.filter != nil && t.depth == 0 && !t.filter.MatchString(name) {
		return true
	}
	sub := newStandalone(full, t.out, t.outMu, t.filter, t)
	return sub.runFunc(f)
}

// runFunc runs f on its own goroutine, then the cleanups, and prints the
// outcome.
func (t *standaloneT) runFunc(f func(T)) bool {
	t.printf("=== RUN   %s", t.name)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				t.Errorf("panic: %v", p)
			}
		}()
		f(t)
	}()
	<-done
	t.cancel()
	t.mu.Lock()
	cleanups := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("panic in cleanup: %v", p)
				}
			}()
			cleanups[i]()
		}()
	}
	switch {
	case t.Failed():
		t.printf("--- FAIL: %s", t.name)
		return false
	case t.Skipped():
		t.printf("--- SKIP: %s", t.name)
	default:
		t.printf("--- PASS: %s", t.name)
	}
	return true
}
