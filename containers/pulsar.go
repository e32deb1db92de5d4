package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/testcontainers/testcontainers-go"
	tcpulsar "github.com/testcontainers/testcontainers-go/modules/pulsar"
)

// PulsarImage is the pinned Pulsar image: Apache Pulsar 4.0, a long-term
// support line, run as "pulsar standalone" without the functions worker. It is
// the default of testcontainers-go's pulsar module at v0.44.0, so the
// module's readiness checks (the admin API listing the "standalone"
// cluster, the binary port listening) are the ones tested against it;
// pulsar-client-go v0.19.0 speaks its protocol.
const PulsarImage = "apachepulsar/pulsar:4.0.9"

// Pulsar is a running Pulsar standalone broker in a container.
type Pulsar struct {
	// ServiceURL is the binary protocol URL, pulsar://host:port.
	ServiceURL string
	// HTTPURL is the admin and HTTP lookup URL, http://host:port.
	HTTPURL string

	started
}

// StartPulsar starts a Pulsar standalone broker and waits until its admin
// API and binary port answer. It fails with an error matching ErrNoDocker
// when no Docker engine answers. Close removes it.
func StartPulsar(ctx context.Context, opts ...Option) (*Pulsar, error) {
	c := newConfig(PulsarImage, opts)
	ctx, cancel, err := startContext(ctx, c, "pulsar")
	if err != nil {
		return nil, err
	}
	defer cancel()
	pc, err := tcpulsar.Run(ctx, c.image, c.customizers()...)
	p := &Pulsar{}
	if pc != nil {
		p.ctr = pc.Container
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("containers: start pulsar (%s): %w", c.image, err), p.Close())
	}
	if p.ServiceURL, err = pc.BrokerURL(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("containers: pulsar (%s): broker URL: %w", c.image, err), p.Close())
	}
	if p.HTTPURL, err = pc.HTTPServiceURL(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("containers: pulsar (%s): HTTP URL: %w", c.image, err), p.Close())
	}
	return p, nil
}

// topicPath turns a topic name into its admin API path
// "persistent/tenant/namespace/name": a short name is in public/default,
// and "persistent://tenant/namespace/name" or "tenant/namespace/name"
// are taken as given.
func topicPath(topic string) (string, error) {
	rest := strings.TrimPrefix(topic, "persistent://")
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 1 && parts[0] != "":
		parts = []string{"public", "default", parts[0]}
	case len(parts) == 3 && parts[0] != "" && parts[1] != "" && parts[2] != "":
	default:
		return "", fmt.Errorf("containers: pulsar: topic %q: expected a name, tenant/namespace/name or persistent://tenant/namespace/name", topic)
	}
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return "persistent/" + strings.Join(parts, "/"), nil
}

// CreateTopic creates a persistent topic through the admin API: a
// partitioned topic with that many partitions when partitions > 0, and a
// non-partitioned topic when partitions is 0. A short name is in
// public/default.
func (p *Pulsar) CreateTopic(ctx context.Context, topic string, partitions int) error {
	path, err := topicPath(topic)
	if err != nil {
		return err
	}
	if partitions < 0 {
		return fmt.Errorf("containers: pulsar: create topic %s with %d partitions: expected 0 (non-partitioned) or more", topic, partitions)
	}
	u := p.HTTPURL + "/admin/v2/" + path
	var body io.Reader
	if partitions > 0 {
		u += "/partitions"
		body = strings.NewReader(strconv.Itoa(partitions))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, body)
	if err != nil {
		return fmt.Errorf("containers: pulsar: create topic %s: %w", topic, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// A client of its own, whose connection is closed on return: topics
	// are made rarely, and nothing is left running.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("containers: pulsar: create topic %s: %w", topic, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("containers: pulsar: create topic %s with %d partitions: PUT %s answered %s: %s", topic, partitions, u, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// Container is the testcontainers-go container, for logs or exec.
func (p *Pulsar) Container() testcontainers.Container { return p.ctr }

// Close stops the broker and removes its container. Later calls return
// the first call's result.
func (p *Pulsar) Close() error { return p.close("pulsar") }
