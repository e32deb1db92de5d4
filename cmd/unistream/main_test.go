package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// bin is the unistream binary the tests run, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "unistream-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "unistream")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the unistream binary: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		// kfake ends a closed connection's goroutines on its own schedule.
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/twmb/franz-go/pkg/kfake.(*Cluster).run")); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is the outcome of one run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s\n--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// failTimeout bounds every run of the binary: it is a hang detector, never a
// pass criterion.
const failTimeout = 2 * time.Minute

// cli runs the binary with args and stdin, in dir, with env added.
func cli(t *testing.T, stdin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), failTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(cleanEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("unistream %s: still running after %s (a hang)\n%s\n%s", strings.Join(args, " "), failTimeout, out.String(), errb.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run unistream: %v", err)
	}
	return result{code, out.String(), errb.String()}
}

// cleanEnv is the test's environment without UNISTREAM_* variables.
func cleanEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "UNISTREAM_") {
			env = append(env, e)
		}
	}
	return env
}

// mustCLI runs the binary and fails the test unless it exits 0.
func mustCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := cli(t, stdin, nil, args...)
	if r.code != 0 {
		t.Fatalf("unistream %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// wantErr checks that a run failed with code and that stderr holds every
// part.
func wantErr(t *testing.T, r result, code int, parts ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d\n%s", r.code, code, r)
	}
	for _, p := range parts {
		if !strings.Contains(r.stderr, p) {
			t.Errorf("stderr does not contain %q\n%s", p, r)
		}
	}
}

// bg is the binary running in the background.
type bg struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	errb bytes.Buffer
	done chan struct{}
	err  error
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func start(t *testing.T, stdin string, args ...string) *bg {
	t.Helper()
	b := &bg{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	b.cmd.Stdin = strings.NewReader(stdin)
	b.cmd.Env = cleanEnv()
	b.cmd.Stdout = lockedWriter{&b.mu, &b.out}
	b.cmd.Stderr = lockedWriter{&b.mu, &b.errb}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.err = b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() {
		select {
		case <-b.done:
		default:
			b.cmd.Process.Kill()
			<-b.done
		}
	})
	return b
}

func (b *bg) output() (string, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String(), b.errb.String()
}

// waitOutput waits until stdout or stderr contains s.
func (b *bg) waitOutput(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(failTimeout)
	for time.Now().Before(deadline) {
		o, e := b.output()
		if strings.Contains(o, s) || strings.Contains(e, s) {
			return
		}
		select {
		case <-b.done:
			o, e := b.output()
			t.Fatalf("exited (%v) before printing %q\n%s\n%s", b.err, s, o, e)
		case <-time.After(50 * time.Millisecond):
		}
	}
	o, e := b.output()
	t.Fatalf("no %q within %s\n%s\n%s", s, failTimeout, o, e)
}

func (b *bg) signal(t *testing.T) {
	t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
}

// wait waits for the exit and returns the result.
func (b *bg) wait(t *testing.T) result {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(failTimeout):
		b.cmd.Process.Kill()
		<-b.done
		o, e := b.output()
		t.Fatalf("still running after %s (a hang)\n%s\n%s", failTimeout, o, e)
	}
	o, e := b.output()
	return result{b.cmd.ProcessState.ExitCode(), o, e}
}
