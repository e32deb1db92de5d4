package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// noConnect is a listener that stands for every broker of a test: nothing
// may connect to it. assertNone proves that nothing did.
type noConnect struct {
	ln       net.Listener
	accepted chan net.Conn
}

func newNoConnect(t *testing.T) *noConnect {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &noConnect{ln: ln, accepted: make(chan net.Conn, 64)}
	go func() {
		defer close(n.accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.accepted <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for c := range n.accepted {
			c.Close()
		}
	})
	return n
}

func (n *noConnect) addr() string { return n.ln.Addr().String() }

// assertNone connects a marker to the listener and fails the test if the
// listener accepted anything before it: connections are accepted in the
// order they were made, so one made by an earlier command comes first.
func (n *noConnect) assertNone(t *testing.T) {
	t.Helper()
	marker, err := net.Dial("tcp", n.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer marker.Close()
	for c := range n.accepted {
		c.Close()
		if c.RemoteAddr().String() == marker.LocalAddr().String() {
			return
		}
		t.Errorf("a connection from %s reached the broker address: config check connected", c.RemoteAddr())
	}
	t.Fatal("the listener stopped before the marker connection")
}

// TestConfigCheckURLs: config check refuses what consume would refuse in the
// stream, checkpoint and DLQ URLs, with the backends' own option parsers,
// naming the key, the option and what was expected, and never connects.
func TestConfigCheckURLs(t *testing.T) {
	broker := newNoConnect(t)
	addr := broker.addr()
	dir := t.TempDir()
	tests := []struct {
		flag, url string
		want      []string
	}{
		// Every backend scheme.
		{"stream", "kafka://" + addr + "/t?compression=brotli&bogus=1", []string{`URL query key "bogus" is unknown`, "valid keys: client_id"}},
		{"stream", "kafka://" + addr + "/t?compression=brotli", []string{`URL option compression="brotli"`, "expected one of none, gzip, snappy, lz4 or zstd"}},
		{"stream", "kafka://" + addr + "/", []string{"topic name is empty", "expected 1 to 249 letters"}},
		{"stream", "pulsar://" + addr + "/t?receiver_queue_size=0", []string{`URL option receiver_queue_size="0"`, "expected an integer from 1 to 1000000"}},
		{"stream", "pulsar://" + addr + "/t?operation_timeout=soon", []string{`URL option operation_timeout="soon"`, "expected a duration"}},
		{"stream", "kinesis://orders?region=us-east-1&endpoint=http://" + addr + "&shards=-1", []string{`URL option shards="-1"`, "expected an integer from 1 to 10000"}},
		{"stream", "mem://orders?partitions=0", []string{`URL option partitions="0"`, "expected an integer from 1 to 4096"}},
		{"stream", "nats://" + addr + "/t", []string{`unknown scheme "nats"`, "registered: kafka, kinesis, mem, pulsar"}},
		// Checkpoint stores.
		{"checkpoint", "dynamodb://checkpoints?endpoint=http://" + addr + "&bogus=1", []string{`parameter "bogus" is unknown`, "expected region, endpoint, create or create_timeout"}},
		{"checkpoint", "dynamodb://ab?endpoint=http://" + addr, []string{`option table: got "ab"`, "expected a DynamoDB table name"}},
		{"checkpoint", "dynamodb://checkpoints?endpoint=ftp://" + addr, []string{"option WithEndpoint", "expected an absolute http:// or https:// URL"}},
		{"checkpoint", "postgres://app:s3cret@" + addr + "/orders?table=Billing", []string{`parameter table="Billing"`, "lower-case letters"}},
		{"checkpoint", "postgresql://app@" + addr + "/orders?create=maybe", []string{`parameter create="maybe"`, "expected true or false"}},
		{"checkpoint", "postgres://app@" + addr + "/orders?password=s3cret&sslmode=sometimes", []string{"sslmode is invalid", "password=xxxxx"}},
		{"checkpoint", "file://host/dir", []string{`file URL host "host"`, "expected file:///ABSOLUTE/PATH"}},
		{"checkpoint", "mem://x", []string{"takes no name, path or query", "expected mem://"}},
		{"checkpoint", "redis://" + addr + "?bogus=1", []string{`parameter "bogus" is unknown`, "expected prefix, dial_timeout or timeout"}},
		{"checkpoint", "rediss://:pw@" + addr + "/x", []string{`path "/x"`, "expected a database number"}},
		{"checkpoint", "nosuch://" + addr, []string{`unknown scheme "nosuch"`, "dynamodb, file, mem, postgres, postgresql, redis, rediss"}},
		// DLQ sinks: a file, or any stream.
		{"dlq", fileURL(filepath.Join(dir, "x.jsonl")) + "?mode=1", []string{"takes no user, query or fragment", "expected file:///ABSOLUTE/PATH"}},
		{"dlq", "kafka://" + addr + "/orders.dlq?fetch_wait=soon", []string{`URL option fetch_wait="soon"`, "expected a duration"}},
		{"dlq", "pulsar://" + addr + "/orders-dlq?bogus=1", []string{`URL query key "bogus" is unknown`}},
	}
	for _, tt := range tests {
		t.Run(tt.flag+" "+tt.url, func(t *testing.T) {
			r := cli(t, "", nil, "config", "check", "--"+tt.flag, tt.url)
			wantErr(t, r, exitError, append([]string{tt.flag + " (from flag --" + tt.flag + "): "}, tt.want...)...)
			if strings.Contains(r.stdout, "configuration OK") {
				t.Errorf("config check said OK:\n%s", r)
			}
			if strings.Contains(r.stdout+r.stderr, "s3cret") {
				t.Errorf("config check shows the password:\n%s", r)
			}
		})
	}

	// Good URLs pass, and config check creates nothing.
	cfgFile := filepath.Join(dir, "unistream.yaml")
	cp, dlqPath := filepath.Join(dir, "cp"), filepath.Join(dir, "dlq.jsonl")
	os.WriteFile(cfgFile, []byte("stream: kafka://"+addr+"/orders?compression=zstd\n"+
		"checkpoint: dynamodb://checkpoints?region=us-east-1&endpoint=http://"+addr+"&create=true\n"+
		"dlq: pulsar://"+addr+"/orders-dlq\n"), 0o600)
	for _, args := range [][]string{
		{"config", "check", "--config", cfgFile},
		{"config", "check", "--stream", "kinesis://orders?region=us-east-1&endpoint=http://" + addr, "--checkpoint", fileURL(cp), "--dlq", fileURL(dlqPath)},
		{"config", "check", "--stream", "pulsar://" + addr + "/orders", "--checkpoint", "mem://", "--dlq", "kinesis://dlq?region=us-east-1&endpoint=http://" + addr},
		{"config", "check", "--stream", "kafka://" + addr + "/orders", "--checkpoint", "redis://:pw@" + addr + "/2?prefix=billing:"},
		{"config", "check", "--stream", "mem://orders", "--checkpoint", "postgres://app:s3cret@" + addr + "/orders?table=billing_cp&sslmode=disable"},
	} {
		r := mustCLI(t, "", args...)
		if !strings.Contains(r.stdout, "configuration OK") || r.stderr != "" {
			t.Errorf("unistream %s: %s", strings.Join(args, " "), r)
		}
	}
	for _, p := range []string{cp, dlqPath} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("config check created %s (%v)", p, err)
		}
	}
	// The key's source is named for a config file too.
	os.WriteFile(cfgFile, []byte("stream: kafka://"+addr+"/t?compression=brotli&bogus=1\n"), 0o600)
	wantErr(t, cli(t, "", nil, "config", "check", "--config", cfgFile), exitError,
		"stream (from config file "+cfgFile+" line 1): ", `URL query key "bogus" is unknown`)

	broker.assertNone(t)
}
