package kafka_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/driver"
)

var roundTripSeq atomic.Uint64

// roundTripOne writes one record to partition 0 of the stream at rawURL
// and reads it back.
func roundTripOne(t *testing.T, rawURL string) {
	t.Helper()
	s, err := stream.Open(bg, rawURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	id := fmt.Sprintf("x%d", roundTripSeq.Add(1))
	res := writeOK(t, s.Driver(), rec(id, "k", "v"))
	got := readPartition(t, s.Driver(), "0", driver.Start{Kind: driver.StartAt, Pointer: res[0].Pointer})
	if ids(got) != id {
		t.Errorf("read %q, want %s", ids(got), id)
	}
}

func TestSASL(t *testing.T) {
	const secret = "pa55-w0rd-xyz"
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			c := kafkatest.Start(t, kafkatest.Topic("secure", 1),
				kafkatest.KfakeOptions(kfake.EnableSASL(), kfake.Superuser(mech, "alice", secret)))
			roundTripOne(t, c.URL("secure", "sasl_mechanism", mech, "sasl_user", "alice", "sasl_password", secret, "fetch_wait", "10ms"))
			// The same credentials as user information.
			u := strings.Replace(c.URL("secure", "sasl_mechanism", mech), "kafka://", "kafka://alice:"+secret+"@", 1)
			roundTripOne(t, u)

			_, err := stream.Open(bg, c.URL("secure", "sasl_mechanism", mech, "sasl_user", "alice", "sasl_password", "wrong-password",
				"request_timeout", "2s"))
			if err == nil {
				t.Fatal("Open with a wrong password succeeded")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows the password: %v", err)
			}
			_, err = stream.Open(bg, c.URL("secure", "request_timeout", "2s"))
			if err == nil {
				t.Error("Open without SASL succeeded on a SASL broker")
			}
		})
	}
}

// tlsFiles writes a CA, a broker certificate for 127.0.0.1 and a client
// certificate, all PEM, and returns their paths and the broker's config.
type tlsFiles struct {
	dir           string
	ca, cert, key string // the CA and the client's certificate and key
	server        *tls.Config
	pool          *x509.CertPool
	caCert        *x509.Certificate
}

func newTLSFiles(t *testing.T) *tlsFiles {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "unistream test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	issue := func(name string, serial int64, server bool) (certPEM, keyPEM []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature,
		}
		if server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
			tmpl.DNSNames = []string{"broker.test"}
		} else {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f := &tlsFiles{dir: dir, caCert: caCert}
	f.ca = write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	sc, sk := issue("broker", 2, true)
	cc, ck := issue("client", 3, false)
	f.cert, f.key = write("client.pem", cc), write("client-key.pem", ck)
	pair, err := tls.X509KeyPair(sc, sk)
	if err != nil {
		t.Fatal(err)
	}
	f.pool = x509.NewCertPool()
	f.pool.AddCert(caCert)
	f.server = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	return f
}

func TestTLS(t *testing.T) {
	f := newTLSFiles(t)
	c := kafkatest.Start(t, kafkatest.Topic("secure", 1), kafkatest.KfakeOptions(kfake.TLS(f.server)))
	fast := []string{"fetch_wait", "10ms", "request_timeout", "2s", "dial_timeout", "1s"}
	with := func(kv ...string) string { return c.URL("secure", append(kv, fast...)...) }

	roundTripOne(t, with("tls_ca", f.ca))
	roundTripOne(t, with("tls", "true", "tls_ca", f.ca, "tls_server_name", "broker.test"))
	roundTripOne(t, with("tls_insecure", "true"))

	for _, tt := range []struct {
		name, url, want string
	}{
		{"unknown CA", with("tls", "true"), "certificate"},
		{"wrong server name", with("tls_ca", f.ca, "tls_server_name", "other.test"), "certificate"},
		{"missing CA file", with("tls_ca", filepath.Join(f.dir, "missing.pem")), "option tls_ca"},
		{"CA file without PEM", with("tls_ca", f.key+"x"), "option tls_ca"},
		{"bad key pair", with("tls_ca", f.ca, "tls_cert", f.cert, "tls_key", f.ca), "options tls_cert"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := stream.Open(bg, tt.url)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	bad := filepath.Join(f.dir, "not-pem.txt")
	if err := os.WriteFile(bad, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Open(bg, with("tls_ca", bad)); err == nil || !strings.Contains(err.Error(), "expected PEM certificates, found none") {
		t.Errorf("Open with a CA file without certificates = %v", err)
	}

	// Mutual TLS: the broker requires a client certificate.
	mtls := f.server.Clone()
	mtls.ClientAuth = tls.RequireAndVerifyClientCert
	mtls.ClientCAs = f.pool
	m := kafkatest.Start(t, kafkatest.Topic("secure", 1), kafkatest.KfakeOptions(kfake.TLS(mtls)))
	roundTripOne(t, m.URL("secure", append([]string{"tls_ca", f.ca, "tls_cert", f.cert, "tls_key", f.key}, fast...)...))
	if _, err := stream.Open(bg, m.URL("secure", append([]string{"tls_ca", f.ca}, fast...)...)); err == nil {
		t.Error("Open without a client certificate succeeded on a broker that requires one")
	}
}
