//go:build !unistream_lite

package main

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"

	// The Pulsar scheme, and its admin.
	"github.com/unistream-go/unistream/adapters/pulsar"
	"github.com/unistream-go/unistream/adapters/pulsar/pulsartest"
)

// pulsarAdmin deletes Pulsar topics through the admin REST API, which
// needs a URL with lookup=http.
var pulsarAdmin = streamAdmin{delete: pulsar.DeleteTopicURL}

var pulsarEmbedded = embeddedBackend{name: "pulsar", port: 6650, start: startPulsar}

// pulsarBackend is pulsarfake through pulsartest, spoken to by the real
// pulsar-client-go over the binary protocol on loopback.
type pulsarBackend struct {
	b       *pulsartest.Broker
	mu      sync.Mutex
	created map[string]bool
}

func startPulsar(ctx context.Context, o embedOptions) (runningBackend, error) {
	var opts []pulsartest.Option
	if o.port != 0 {
		opts = append(opts, pulsartest.Addr(net.JoinHostPort("127.0.0.1", strconv.Itoa(o.port))))
	}
	b, err := pulsartest.New(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return &pulsarBackend{b: b, created: map[string]bool{}}, nil
}

// URL creates the topic with the partition count the first time it is
// asked for (a failure is logged: the topic may exist from an earlier
// request, and opening the URL reports a real problem).
func (p *pulsarBackend) URL(name string, partitions int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.created[name] && !strings.ContainsAny(name, "{}") { // not serve's {stream} template
		if err := p.b.CreateTopic(name, partitions); err != nil {
			slog.Warn("pulsar: create topic", "topic", name, "err", err)
		}
		p.created[name] = true
	}
	return p.b.URL(name)
}
func (p *pulsarBackend) Addr() string { return p.b.ServiceURL() }
func (p *pulsarBackend) Close()       { p.b.Close() }
