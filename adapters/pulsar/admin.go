package pulsar

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/apache/pulsar-client-go/pulsar/auth"
)

// DeleteTopic deletes the topic o names, partitioned or not, with its
// messages and subscriptions, through the admin REST API
// (DELETE /admin/v2/persistent/TENANT/NAMESPACE/TOPIC[/partitions]?force=true),
// with the URL's TLS and authentication options. The admin API is served
// by the HTTP service, so o must use lookup=http (its hosts are then the
// HTTP service); the first host is asked. A topic that does not exist is
// deleted already. ctx bounds the call, and each request the operation
// timeout.
func DeleteTopic(ctx context.Context, o Options) error {
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return err
	}
	if o.Lookup != LookupHTTP {
		return fmt.Errorf("pulsar: delete topic %s: the admin REST API is on the HTTP service: expected a URL with lookup=http (its hosts the HTTP service, port 8080 by default)", o.Topic)
	}
	hc, closeAuth, err := adminClient(o)
	if err != nil {
		return fmt.Errorf("pulsar: delete topic %s: %w", o.Topic, err)
	}
	defer closeAuth()
	full := o.FullTopic()
	path := strings.TrimPrefix(full, "persistent://")
	i := strings.LastIndexByte(path, '/')
	base := strings.TrimSuffix(strings.SplitN(o.ServiceURL(), ",", 2)[0], "/") + "/admin/v2/persistent/" + path[:i+1] + url.PathEscape(path[i+1:])
	// A partitioned topic first (what the suite and most users create);
	// 404 means it is not one, and the plain topic is tried.
	for _, u := range []string{base + "/partitions?force=true", base + "?force=true"} {
		notFound, err := adminDelete(ctx, hc, u)
		if err != nil {
			return fmt.Errorf("pulsar: delete topic %s: %w", full, err)
		}
		if !notFound {
			return nil
		}
	}
	return nil
}

// adminDelete sends one DELETE; it reports whether the topic was not
// found there (404).
func adminDelete(ctx context.Context, hc *http.Client, u string) (notFound bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, nil)
	if err != nil {
		return false, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return true, nil
	case resp.StatusCode/100 == 2:
		return false, nil
	default:
		return false, fmt.Errorf("DELETE %s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
}

// adminClient returns an HTTP client with o's TLS options and its
// authentication (the client library's providers, which add their
// credentials to HTTP requests), and a function that releases them.
func adminClient(o Options) (*http.Client, func(), error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tc := &tls.Config{InsecureSkipVerify: o.TLSInsecure} //nolint:gosec // the user's tls_insecure option
	if o.TLSCAFile != "" {
		pem, err := os.ReadFile(o.TLSCAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("tls_ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("tls_ca %s: expected PEM certificates", o.TLSCAFile)
		}
	}
	tr.TLSClientConfig = tc
	co, err := clientOptions(o)
	if err != nil {
		return nil, nil, err
	}
	var rt http.RoundTripper = tr
	closeAuth := func() { tr.CloseIdleConnections() }
	if co.Authentication != nil {
		p, ok := co.Authentication.(auth.Provider)
		if !ok {
			return nil, nil, fmt.Errorf("the authentication %T has no HTTP form", co.Authentication)
		}
		if err := p.Init(); err != nil {
			return nil, nil, fmt.Errorf("authentication: %w", err)
		}
		if err := p.WithTransport(tr); err != nil {
			p.Close()
			return nil, nil, fmt.Errorf("authentication: %w", err)
		}
		rt = p
		closeAuth = func() { p.Close(); tr.CloseIdleConnections() }
	}
	return &http.Client{Transport: rt, Timeout: o.OperationTimeout}, closeAuth, nil
}

// DeleteTopicURL is DeleteTopic with the options of a pulsar:// URL (the one the topic
// was opened with; its create options are ignored).
func DeleteTopicURL(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("pulsar: delete topic: %w", err)
	}
	o, err := ParseURL(u)
	if err != nil {
		return err
	}
	return DeleteTopic(ctx, o)
}
