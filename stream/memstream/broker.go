package memstream

import (
	"sort"
	"sync"
)

// Broker holds named streams, like a broker holds topics: every Stream call
// with one name returns a new handle on the same data. The mem:// URL scheme
// opens streams of the Default broker; tests that want isolation use their
// own NewBroker or New.
type Broker struct {
	mu      sync.Mutex
	streams map[string]*state
}

// NewBroker returns an empty broker.
func NewBroker() *Broker { return &Broker{streams: map[string]*state{}} }

// defaultBroker is the only package-level state: the broker behind mem:// URLs.
var defaultBroker = NewBroker()

// Default returns the process-wide broker that mem:// URLs open streams of.
func Default() *Broker { return defaultBroker }

// Stream returns a new handle on the stream called name, creating the stream
// if it does not exist. Options that are set must match an existing
// stream's (partition count and limits); unset ones take the existing
// stream's values, or the defaults for a new stream. Closing the handle does
// not delete the stream.
func (b *Broker) Stream(name string, opts ...Option) (*Stream, error) {
	o := NewOptions(opts...)
	o.Name = name
	return b.open(o)
}

// open validates o and returns a handle on the stream it names.
func (b *Broker) open(o Options) (*Stream, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st, ok := b.streams[o.Name]
	if !ok {
		st = newState(o)
		b.streams[o.Name] = st
	} else if err := st.matches(o); err != nil {
		return nil, err
	}
	h := newHandle(st, o)
	h.broker = b
	return h, nil
}

// Delete removes the stream called name from the broker and reports whether
// it existed. Open handles keep working on the removed data; the next
// Stream call with that name creates a new, empty stream.
func (b *Broker) Delete(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.streams[name]
	delete(b.streams, name)
	return ok
}

// Reset removes every stream from the broker (see Delete).
func (b *Broker) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.streams)
}

// Names lists the broker's stream names, sorted.
func (b *Broker) Names() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.streams))
	for n := range b.streams {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
