// Package minimal is a fake adapter with no options; its generated files
// are golden files of the generator.
package minimal

import (
	"context"
	"errors"
	"net/url"
	"strconv"

	"github.com/unistream-go/unistream/stream/driver"
)

// Target is the name of a minimal URL.
type Target struct{ Name string }

// Validate accepts any name but the empty one.
func (t Target) Validate() error {
	if t.Name == "" {
		return errors.New("minimal: name is empty")
	}
	return nil
}

// String shows the name.
func (t Target) String() string { return "Name:" + strconv.Quote(t.Name) }

func parseTarget(u *url.URL) (Target, error) {
	t := Target{Name: u.Opaque}
	return t, t.Validate()
}

// ErrNoBackend is what opening a minimal URL returns.
var ErrNoBackend = errors.New("minimal: no backend")

func openOptions(context.Context, Options) (driver.Stream, error) { return nil, ErrNoBackend }
