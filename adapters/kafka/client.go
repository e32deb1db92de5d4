package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// recordOverhead is the room the producer's batch limit leaves above
// MaxRecordBytes for Kafka's framing (the record batch header, the
// record's varints, the id header's key): enough for a record with about a
// thousand headers. A record whose framing needs more fails with
// driver.ErrRecordTooLarge before it is sent (see encodedSize).
//
// batchHeaderLen is the length of a v2 record batch header.
const (
	recordOverhead = 16 << 10
	batchHeaderLen = 61
)

// baseOpts returns the kgo options every client of a stream shares:
// brokers, client id, timeouts, TLS and SASL.
func baseOpts(o Options) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(o.Brokers...),
		kgo.ClientID(o.ClientID),
		kgo.DialTimeout(o.DialTimeout),
		kgo.RequestTimeoutOverhead(o.RequestTimeout),
		kgo.MetadataMinAge(o.MetadataMinAge),
		kgo.ConnIdleTimeout(o.ConnIdleTimeout),
	}
	if o.TLS {
		cfg, err := tlsConfig(o)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	switch o.SASLMechanism {
	case SASLPlain:
		opts = append(opts, kgo.SASL(plain.Auth{User: o.SASLUser, Pass: o.SASLPassword}.AsMechanism()))
	case SASLScramSHA256:
		opts = append(opts, kgo.SASL(scram.Auth{User: o.SASLUser, Pass: o.SASLPassword}.AsSha256Mechanism()))
	case SASLScramSHA512:
		opts = append(opts, kgo.SASL(scram.Auth{User: o.SASLUser, Pass: o.SASLPassword}.AsSha512Mechanism()))
	}
	return opts, nil
}

// tlsConfig builds the TLS configuration of the options.
func tlsConfig(o Options) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         o.TLSServerName,
		InsecureSkipVerify: o.TLSInsecure, //nolint:gosec // an explicit option, for tests
	}
	if o.TLSCAFile != "" {
		pem, err := os.ReadFile(o.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: option tls_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka: option tls_ca %q: expected PEM certificates, found none", o.TLSCAFile)
		}
		cfg.RootCAs = pool
	}
	if o.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.TLSCertFile, o.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: options tls_cert %q and tls_key %q: %w", o.TLSCertFile, o.TLSKeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// compressionCodec returns the kgo codec of a compression name.
func compressionCodec(name string) kgo.CompressionCodec {
	switch name {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// batchMaxBytes is the producer's record batch bound: room for the largest
// record and its framing, and at least franz-go's default, so that small
// records batch as well as with a plain client.
func batchMaxBytes(maxRecord int) int32 {
	return int32(max(maxRecord+recordOverhead, 1_000_012))
}

// varintLen is the length of the zig-zag varint encoding of v.
func varintLen(v int64) int {
	u := uint64((v << 1) ^ (v >> 63))
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// encodedSize is the size of the record alone in a v2 record batch (an
// upper bound: the timestamp and offset deltas are counted at their
// longest), including the id header the writer adds.
func encodedSize(r *kgo.Record) int {
	n := 1 + 10 + 5 // attributes, timestamp delta, offset delta
	n += varintLen(int64(len(r.Key))) + len(r.Key)
	n += varintLen(int64(len(r.Value))) + len(r.Value)
	n += varintLen(int64(len(r.Headers)))
	for _, h := range r.Headers {
		n += varintLen(int64(len(h.Key))) + len(h.Key) + varintLen(int64(len(h.Value))) + len(h.Value)
	}
	return n + varintLen(int64(n))
}
