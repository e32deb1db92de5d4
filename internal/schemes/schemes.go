// Package schemes holds the URL scheme registries of unistream: the one
// type behind driver.Register (stream backends), checkpoint.Register
// (checkpoint stores) and dlq.Register (DLQ sinks), as database/sql keeps
// its drivers by name.
//
//	var openers = schemes.New[Opener]("checkpoint")
//
//	func Register(scheme string, o Opener) { openers.Register(scheme, o) }
package schemes

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"sync"
)

// Registry maps URL schemes to openers of type T. It is safe for
// concurrent use; the zero value is not usable, call New.
type Registry[T any] struct {
	pkg string // the registering package, for panic messages
	mu  sync.RWMutex
	m   map[string]T
}

// New returns an empty registry; pkg names the package that owns it in
// the messages of Register's panics.
func New[T any](pkg string) *Registry[T] {
	return &Registry[T]{pkg: pkg, m: map[string]T{}}
}

// Register adds o under scheme. It panics if the scheme is empty or
// already registered, or o is nil: programming errors found at init, as
// database/sql's Register treats them.
func (r *Registry[T]) Register(scheme string, o T) {
	if scheme == "" || any(o) == nil {
		panic(r.pkg + ": Register with an empty scheme or a nil opener")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[scheme]; dup {
		panic(r.pkg + ": Register called twice for scheme " + scheme)
	}
	r.m[scheme] = o
}

// Lookup returns the opener registered under scheme.
func (r *Registry[T]) Lookup(scheme string) (T, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	o, ok := r.m[scheme]
	return o, ok
}

// Schemes lists the registered schemes, sorted.
func (r *Registry[T]) Schemes() []string {
	r.mu.RLock()
	out := make([]string, 0, len(r.m))
	for s := range r.m {
		out = append(out, s)
	}
	r.mu.RUnlock()
	sort.Strings(out)
	return out
}

// URLChecker is the optional capability of an opener of any of the three
// registries: CheckURL reports what Open would refuse in a URL of its
// scheme (its target and options) without connecting to anything or
// creating anything. driver.URLChecker names it for stream backends;
// checkpoint store and DLQ sink openers implement the same method.
type URLChecker interface {
	CheckURL(u *url.URL) error
}

// ErrNotChecked is wrapped by Check for an opener without CheckURL.
var ErrNotChecked = errors.New("the scheme's opener cannot check a URL without opening it (it does not implement CheckURL)")

// Check calls the opener's CheckURL if it has one (found by type assertion,
// as database/sql finds a driver's optional interfaces), and otherwise
// returns an error wrapping ErrNotChecked.
func Check(opener any, u *url.URL) error {
	c, ok := opener.(URLChecker)
	if !ok {
		return fmt.Errorf("scheme %q: %w", u.Scheme, ErrNotChecked)
	}
	return c.CheckURL(u)
}
