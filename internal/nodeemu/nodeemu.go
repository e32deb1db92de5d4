// Package nodeemu starts the Node.js emulators some tests run against
// (kinesalite, dynalite, pulsar-flex clients) as child processes bound to
// 127.0.0.1, and stops them.
//
// The npm packages live in an ignored folder that `make tools` fills:
// <module root>/.tools/node/node_modules, or the folder named by the
// UNISTREAM_NODE_MODULES environment variable.
//
//	p, err := nodeemu.Start(ctx, "kinesalite",
//		`require('kinesalite')({createStreamMs: 50}).listen(PORT, '127.0.0.1')`)
//	...
//	defer p.Close()
//	endpoint := "http://" + p.Addr
package nodeemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SurviveAbortedRequests is a script prelude for kinesalite 3.3.3 and
// dynalite 4.0.0. Both throw from a request's error handler when a client
// closes a connection with a request in flight (ECONNRESET "aborted"),
// which ends the process; a client that cancels a request (a consumer
// stopping during a call, a member killed in a test) does just that. The
// prelude ignores that one error and exits on any other.
const SurviveAbortedRequests = `process.on('uncaughtException', function(e) { if (e && e.code === 'ECONNRESET') return; console.error(e); process.exit(1) });`

// Dynalite is the script that starts dynalite on loopback through its
// library (its command line binds every interface), tables active at once.
const Dynalite = SurviveAbortedRequests +
	`require('dynalite')({createTableMs:0,deleteTableMs:0,updateTableMs:0}).listen(PORT,'127.0.0.1')`

// Kinesalite is the script that starts kinesalite on loopback through its
// library, streams active after 50 ms, with room for 50 shards.
const Kinesalite = SurviveAbortedRequests +
	`require('kinesalite')({createStreamMs:50,deleteStreamMs:50,updateStreamMs:50,shardLimit:50}).listen(PORT,'127.0.0.1')`

// EnvModules names the environment variable that overrides where the npm
// packages are installed.
const EnvModules = "UNISTREAM_NODE_MODULES"

// ModulesDir returns the node_modules folder holding the emulators, or an
// error that says how to install them.
func ModulesDir() (string, error) {
	if d := os.Getenv(EnvModules); d != "" {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return "", fmt.Errorf("nodeemu: %s=%q is not a folder", EnvModules, d)
		}
		return d, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	d := filepath.Join(root, ".tools", "node", "node_modules")
	if st, err := os.Stat(d); err != nil || !st.IsDir() {
		return "", fmt.Errorf("nodeemu: the npm emulators are not installed in %s: run `make tools` (or set %s)", d, EnvModules)
	}
	return d, nil
}

// moduleRoot walks up from the working directory to the folder with go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("nodeemu: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("nodeemu: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Process is a running emulator.
type Process struct {
	// Name is the name given to Start, used in errors.
	Name string
	// Addr is "127.0.0.1:port", where the emulator listens.
	Addr string

	cmd    *exec.Cmd
	done   chan struct{}
	waitMu sync.Mutex
	err    error
	out    *lockedBuffer
}

// Start runs `node -e script` with PORT in script replaced by a free
// loopback port, and returns once the port accepts connections (or after
// 30 seconds with an error that includes the process output). The package
// is required from ModulesDir. Cancelling ctx does not stop the process:
// call Close.
func Start(ctx context.Context, name, script string) (*Process, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("nodeemu: start %s: node is not installed (apt-get install nodejs npm): %w", name, err)
	}
	mods, err := ModulesDir()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("nodeemu: start %s: %w", name, err)
	}
	script = strings.ReplaceAll(script, "PORT", strconv.Itoa(port))
	cmd := exec.Command(node, "-e", script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+mods)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("nodeemu: start %s: %w", name, err)
	}
	p := &Process{Name: name, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd, done: make(chan struct{}), out: out}
	go func() { // owned by p: reaps the child; Close waits for it
		err := cmd.Wait()
		p.waitMu.Lock()
		p.err = err
		p.waitMu.Unlock()
		close(p.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, derr := net.DialTimeout("tcp", p.Addr, 200*time.Millisecond)
		if derr == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("nodeemu: %s exited before listening on %s: %v\n%s", name, p.Addr, p.exitErr(), out.String())
		case <-ctx.Done():
			p.Close()
			return nil, fmt.Errorf("nodeemu: start %s: %w", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Close()
			return nil, fmt.Errorf("nodeemu: %s did not listen on %s within 30s:\n%s", name, p.Addr, out.String())
		}
	}
}

func (p *Process) exitErr() error {
	p.waitMu.Lock()
	defer p.waitMu.Unlock()
	return p.err
}

// Output returns what the process printed so far.
func (p *Process) Output() string { return p.out.String() }

// Close kills the process and waits for it to exit. It is safe to call
// more than once.
func (p *Process) Close() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
