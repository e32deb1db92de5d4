package dlq_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/dlq"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/memstream"
)

func TestOpenFileURL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "orders.dlq.jsonl")
	sink, err := dlq.Open(ctx, "file://"+filepath.ToSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	env := &dlq.Envelope{ID: "r1", Value: []byte(`{"v":1}`), Consumer: "c", Attempts: 3, Reason: "exhausted", DeadLetteredAt: time.Now().UTC()}
	if err := sink.Put(ctx, env); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := dlq.ReadFile(path)
	if err != nil || len(got) != 1 || got[0].ID != "r1" {
		t.Fatalf("ReadFile = %v, %v; want the one envelope r1", got, err)
	}
	p, err := dlq.FileURLPath("file://" + filepath.ToSlash(path))
	if err != nil || p != path {
		t.Fatalf("FileURLPath = %q, %v; want %q", p, err, path)
	}
}

func TestOpenStreamURL(t *testing.T) {
	ctx := context.Background()
	name := "dlq-open-test"
	t.Cleanup(func() { memstream.Default().Delete(name) })
	sink, err := dlq.Open(ctx, "mem://"+name)
	if err != nil {
		t.Fatal(err)
	}
	env := &dlq.Envelope{ID: "r2", Value: []byte("x"), Consumer: "c", Reason: "permanent", DeadLetteredAt: time.Now().UTC()}
	if err := sink.Put(ctx, env); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := memstream.Default().Stream(name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.OpenReader(ctx, "0", driver.Start{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recs, err := r.Fetch(ctx, 10)
	if err != nil || len(recs) != 1 {
		t.Fatalf("fetch = %d records, %v; want 1", len(recs), err)
	}
	back, err := dlq.DecodeRecord(&recs[0])
	if err != nil || back.ID != "r2" {
		t.Fatalf("DecodeRecord = %v, %v", back, err)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"", "has no scheme"},
		{"orders.jsonl", "has no scheme"},
		{"nosuch://x", `unknown scheme "nosuch"`},
		{"file://dir/x.jsonl", `host "dir"`},
		{"file:///x.jsonl?a=1", "no user, query or fragment"},
		{"%zz", "malformed DLQ URL"},
		{"nosuch://u:secretpw@h/x?token=abc", `unknown scheme`},
	} {
		_, err := dlq.Open(context.Background(), tt.url)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%q) = %v, want an error containing %q", tt.url, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "secretpw") || strings.Contains(err.Error(), "abc") {
			t.Errorf("Open(%q) error shows a secret: %v", tt.url, err)
		}
	}
	if _, err := dlq.FileURLPath("mem://x"); err == nil {
		t.Error("FileURLPath(mem://x): want an error")
	}
}

// schemeRuns numbers the schemes the tests register.
var schemeRuns atomic.Int64

func TestRegisterSink(t *testing.T) {
	// A scheme of its own per run: the registry is process-wide, and -count
	// runs the test again in the same process.
	testsinkScheme := fmt.Sprintf("test-sink-%d", schemeRuns.Add(1))
	dlq.Register(testsinkScheme, dlq.OpenerFunc(func(ctx context.Context, u *url.URL) (dlq.Sink, error) {
		return dlq.OpenFile(filepath.Join(u.Path))
	}))
	path := filepath.Join(t.TempDir(), "x.jsonl")
	s, err := dlq.Open(context.Background(), testsinkScheme+"://"+filepath.ToSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	defer func() {
		if recover() == nil {
			t.Error("duplicate Register did not panic")
		}
	}()
	dlq.Register(testsinkScheme, dlq.OpenerFunc(nil))
}

func FuzzOpen(f *testing.F) {
	for _, s := range []string{"mem://x", "file:///tmp/x", "%", "file://h/x?y#z", "kafka://h/t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		l := strings.ToLower(raw)
		if !strings.HasPrefix(l, "nosuch") && !strings.HasPrefix(l, "%") && strings.Contains(l, ":") {
			return // would create files or streams
		}
		if s, err := dlq.Open(context.Background(), raw); err == nil {
			s.Close()
		}
	})
}

func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "dlq-example-")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	sink, err := dlq.Open(ctx, "file://"+filepath.ToSlash(filepath.Join(dir, "orders.dlq.jsonl")))
	if err != nil {
		fmt.Println(err)
		return
	}
	sink.Put(ctx, &dlq.Envelope{ID: "order-7", Value: []byte(`{"total":-1}`), Consumer: "billing", Attempts: 3, Reason: "exhausted"})
	sink.Close()
	envs, _ := dlq.ReadFile(filepath.Join(dir, "orders.dlq.jsonl"))
	fmt.Println(envs[0].ID, envs[0].Reason)

	_, err = dlq.Open(ctx, "orders.dlq.jsonl")
	fmt.Println(err != nil)
	// Output:
	// order-7 exhausted
	// true
}

// TestCheckURL: CheckURL refuses what Open refuses, file and stream URLs
// alike, and creates nothing.
func TestCheckURL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "not-created.jsonl")
	tests := []struct {
		url  string
		want string // "" for a good URL
	}{
		{"file://" + filepath.ToSlash(path), ""},
		{"mem://dlq-checkurl?partitions=2", ""},
		{"file://" + filepath.ToSlash(path) + "?mode=1", "takes no user, query or fragment"},
		{"file://host/x.jsonl", `file URL host "host"`},
		{"mem://dlq?partitions=0", `URL option partitions="0": expected an integer from 1 to 4096`},
		{"mem://dlq?bogus=1", `URL query key "bogus" is unknown`},
		{"nosuch://x", `unknown scheme "nosuch"`},
	}
	for _, tt := range tests {
		err := dlq.CheckURL(tt.url)
		if tt.want == "" {
			if err != nil {
				t.Errorf("CheckURL(%q) = %v, want nil", tt.url, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CheckURL(%q) = %v, want an error with %q", tt.url, err, tt.want)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("CheckURL created the DLQ file (%v)", err)
	}
	for _, n := range memstream.Default().Names() {
		if n == "dlq-checkurl" {
			t.Error("CheckURL created the memory stream")
		}
	}
}
