package pulsar_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/adapters/pulsar"
)

func parse(t *testing.T, raw string) (pulsar.Options, error) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("url.Parse(%q): %v", raw, err)
	}
	return pulsar.ParseURLEnv(u, func(string) (string, bool) { return "", false })
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url, service, full string
	}{
		{"pulsar://localhost/orders", "pulsar://localhost:6650", "persistent://public/default/orders"},
		{"pulsar://b1,b2:6651/acme/billing/orders", "pulsar://b1:6650,b2:6651", "persistent://acme/billing/orders"},
		{"pulsar://[::1]/orders?tenant=acme&namespace=ns", "pulsar://[::1]:6650", "persistent://acme/ns/orders"},
		{"pulsar://web/orders?lookup=http", "http://web:8080", "persistent://public/default/orders"},
		{"pulsar://web:443/orders?lookup=http&tls=true", "https://web:443", "persistent://public/default/orders"},
		{"pulsar://b:6651/orders?tls_ca=/ca.pem", "pulsar+ssl://b:6651", "persistent://public/default/orders"},
	} {
		o, err := parse(t, tc.url)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if err := o.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", tc.url, err)
		}
		if got := o.ServiceURL(); got != tc.service {
			t.Errorf("%s: service URL %s, want %s", tc.url, got, tc.service)
		}
		if got := o.FullTopic(); got != tc.full {
			t.Errorf("%s: full topic %s, want %s", tc.url, got, tc.full)
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"pulsar:orders", "without '//'"},
		{"pulsar://u:p@b/orders", "user information"},
		{"pulsar:///orders", "no host"},
		{"pulsar://b:0/orders", "port"},
		{"pulsar://b,/orders", "empty entry"},
		{"pulsar://b/", "topic name is empty"},
		{"pulsar://b/a/orders", "TENANT/NAMESPACE/TOPIC"},
		{"pulsar://b/orders-partition-3", "names a partition"},
		{"pulsar://b/ord%20ers", "not allowed"},
		{"pulsar://b/orders?send_timeout=0s", "send_timeout"},
		{"pulsar://b/orders?lookup=grpc", "lookup"},
		{"pulsar://b/a/b/orders?tenant=x", "give them once"},
		{"pulsar://b/orders?tls_cert=c.pem", "tls_key"},
		{"pulsar://b/orders?tls=false&tls_ca=ca.pem", "contradicts"},
		{"pulsar://b/orders?oauth2_audience=x", "oauth2_issuer_url"},
		{"pulsar://b/orders?oauth2_issuer_url=ftp://x&oauth2_key_file=k.json", "http(s) URL"},
		{"pulsar://b/orders?auth_token=SECRET&auth_token_file=t", "more than one authentication"},
		{"pulsar://b/orders?tenant=a%2Fb", "tenant"},
		{"pulsar://b/orders?receiver_queue_size=0", "receiver_queue_size"},
	} {
		o, err := parse(t, tc.url)
		if err == nil {
			err = o.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: the error shows the token: %v", tc.url, err)
		}
	}
}

func TestOptionsRedactSecrets(t *testing.T) {
	o, err := parse(t, "pulsar://b/orders?auth_token=SECRET-TOKEN")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{o.String(), o.GoString()} {
		if strings.Contains(s, "SECRET-TOKEN") {
			t.Errorf("String shows the token: %s", s)
		}
	}
}

func TestOpenWithOptionsLiteral(t *testing.T) {
	if _, err := pulsar.Open(context.Background(), pulsar.Options{}); err == nil || !strings.Contains(err.Error(), "no host") {
		t.Errorf("Open of empty options: %v, want an error naming the missing host", err)
	}
	if _, err := pulsar.Open(context.Background(), pulsar.Options{Target: pulsar.Target{Hosts: []string{"b"}, Topic: "t"}}); err == nil || !strings.Contains(err.Error(), "HOST:PORT") {
		t.Errorf("Open with a host without port: %v, want an error naming HOST:PORT", err)
	}
}
