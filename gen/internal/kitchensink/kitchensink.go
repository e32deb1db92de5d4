// Package kitchensink is a fake adapter whose spec has every option type
// and rule of the generator; its generated files are the generator's golden
// files, compiled and tested here.
package kitchensink

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/unistream-go/unistream/stream/driver"
)

// Target is the host and topic of a kitchensink URL.
type Target struct {
	// Host is the URL's host; Topic its path without the leading "/".
	Host, Topic string
}

// Validate checks that the topic is set.
func (t Target) Validate() error {
	if t.Topic == "" {
		return errors.New("kitchensink: topic is empty: expected " + optForm)
	}
	return nil
}

// String shows the target.
func (t Target) String() string {
	return "Host:" + strconv.Quote(t.Host) + " Topic:" + strconv.Quote(t.Topic)
}

// parseTarget reads kitchensink://HOST/TOPIC.
func parseTarget(u *url.URL) (Target, error) {
	if u.Opaque != "" || u.User != nil {
		return Target{}, fmt.Errorf("kitchensink: URL must be of the form %s", optForm)
	}
	t := Target{Host: u.Host, Topic: strings.TrimPrefix(u.Path, "/")}
	return t, t.Validate()
}

// checkOptions is the check between options the spec names with validate:
// a request without retries needs a timeout of at least a second.
func checkOptions(o Options) error {
	if o.Retries == 0 && o.Timeout < time.Second {
		return fmt.Errorf("kitchensink: retries 0 with timeout %s: expected a timeout of at least 1s when there are no retries", o.Timeout)
	}
	return nil
}

// ErrNoBackend is what opening a kitchensink URL returns: there is no
// backend behind it.
var ErrNoBackend = errors.New("kitchensink: no backend")

var (
	mu     sync.Mutex
	opened []Options
)

// openOptions records the options and fails with ErrNoBackend.
func openOptions(_ context.Context, o Options) (driver.Stream, error) {
	mu.Lock()
	defer mu.Unlock()
	opened = append(opened, o)
	return nil, fmt.Errorf("kitchensink: open %s: %w", o.Topic, ErrNoBackend)
}

// Opened returns the options of every open so far.
func Opened() []Options {
	mu.Lock()
	defer mu.Unlock()
	return append([]Options(nil), opened...)
}
