package containers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// ErrNoDocker is matched (errors.Is) by the error of Available and of every
// Start function when no Docker engine answers.
var ErrNoDocker = errors.New("no Docker engine")

// availableTimeout bounds how long Available waits for the engine to
// answer when ctx has no earlier deadline.
const availableTimeout = 10 * time.Second

// Available returns nil when a Docker engine answers testcontainers-go
// (found through DOCKER_HOST, ~/.testcontainers.properties, the default
// socket or a rootless socket), and otherwise an error matching
// ErrNoDocker that says why, such as "no Docker engine: none answers
// (tried DOCKER_HOST="tcp://127.0.0.1:2375", ...): ... Cannot connect to
// the Docker daemon". It never panics: testcontainers-go panics in some discovery
// paths, and Available turns that into an error too.
func Available(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: testcontainers-go: %v", ErrNoDocker, r)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, availableTimeout)
	defer cancel()
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return fmt.Errorf("%w: none answers (tried %s, ~/.testcontainers.properties, /var/run/docker.sock and the rootless sockets): %w",
			ErrNoDocker, dockerHostEnv(), err)
	}
	// Health asks the engine for its Info and closes the provider.
	if err := p.Health(ctx); err != nil {
		return fmt.Errorf("%w: the engine found through %s does not answer: %w", ErrNoDocker, dockerHostEnv(), err)
	}
	return nil
}

// dockerHostEnv describes DOCKER_HOST for error messages.
func dockerHostEnv() string {
	if v := os.Getenv("DOCKER_HOST"); v != "" {
		return fmt.Sprintf("DOCKER_HOST=%q", v)
	}
	return "DOCKER_HOST (unset)"
}

// Option configures a Start function.
type Option func(*config)

type config struct {
	image   string
	logger  tclog.Logger
	timeout time.Duration
}

func newConfig(image string, opts []Option) config {
	c := config{image: image, timeout: 5 * time.Minute}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// customizers returns the testcontainers options every container gets.
func (c config) customizers() []testcontainers.ContainerCustomizer {
	if c.logger == nil {
		return nil
	}
	return []testcontainers.ContainerCustomizer{testcontainers.WithLogger(c.logger)}
}

// WithImage runs image instead of the pinned default. The image must be
// of the same family (for Kafka, a confluentinc/confluent-local tag of
// 7.4.0 or later: the testcontainers module drives its start scripts).
func WithImage(image string) Option { return func(c *config) { c.image = image } }

// WithLogger sends testcontainers-go's progress lines (image pulls,
// container starts, the reaper) to l at Info level. Without it they go to
// testcontainers-go's default logger, which is silent in tests not run
// with -v.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = slogPrintf{l}
		}
	}
}

// WithStartTimeout bounds the whole start, image pull included (default
// 5 minutes); the context given to Start can only shorten it.
func WithStartTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// slogPrintf adapts a *slog.Logger to testcontainers-go's Printf logger.
type slogPrintf struct{ l *slog.Logger }

func (s slogPrintf) Printf(format string, v ...any) {
	s.l.Info(fmt.Sprintf(format, v...), "component", "testcontainers")
}

// terminate removes ctr, bounded by a minute; nil is fine.
func terminate(ctr testcontainers.Container) error {
	if ctr == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ctr.Terminate(ctx); err != nil {
		return fmt.Errorf("terminate container: %w", err)
	}
	return nil
}

// started is the part every started broker shares: its container and
// an idempotent Close, safe from several goroutines.
type started struct {
	ctr  testcontainers.Container
	once sync.Once
	err  error
}

func (s *started) close(what string) error {
	s.once.Do(func() {
		if err := terminate(s.ctr); err != nil {
			s.err = fmt.Errorf("containers: %s: %w", what, err)
		}
	})
	return s.err
}

// startContext derives the start's context: the configured timeout, and
// a check that a Docker engine answers before testcontainers-go is asked
// for anything (some of its paths panic without one).
func startContext(ctx context.Context, c config, what string) (context.Context, context.CancelFunc, error) {
	if err := Available(ctx); err != nil {
		return nil, nil, fmt.Errorf("containers: start %s: %w", what, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	return ctx, cancel, nil
}
