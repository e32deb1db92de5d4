package checkpoint_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
)

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tests := []struct {
		url     string
		wantErr string // "" = opens
	}{
		{"mem://", ""},
		{"file://" + filepath.ToSlash(filepath.Join(dir, "a")), ""},
		{"file://localhost" + filepath.ToSlash(filepath.Join(dir, "b")), ""},
		{"", "has no scheme"},
		{"/var/lib/x", "has no scheme"},
		{"nosuch://x", `unknown scheme "nosuch"`},
		{"mem://name", "expected mem://"},
		{"file://relative/dir", `host "relative"`},
		{"file:///", "has no path"},
		{"file:///tmp/x?mode=1", "no user, query or fragment"},
		{"%zz://", "malformed store URL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			s, err := checkpoint.Open(ctx, tt.url)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Open(%q): %v", tt.url, err)
				}
				k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"}
				cp, err := s.Load(ctx, k)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Save(ctx, cp); err != nil {
					t.Fatalf("save through the opened store: %v", err)
				}
				if err := checkpoint.CloseStore(s); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Open(%q) = %v, want an error containing %q", tt.url, err, tt.wantErr)
			}
		})
	}
}

func TestOpenFileRelative(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	s, err := checkpoint.Open(context.Background(), "file:state/cp")
	if err != nil {
		t.Fatal(err)
	}
	fs, ok := s.(*checkpoint.FileStore)
	if !ok || fs.Dir() != filepath.Join("state", "cp") {
		t.Fatalf("got %T %v, want a FileStore over state/cp", s, s)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "cp")); err != nil {
		t.Fatalf("directory not created: %v", err)
	}
}

// schemeRuns numbers the schemes the tests register.
var schemeRuns atomic.Int64

func TestRegister(t *testing.T) {
	// A scheme of its own per run: the registry is process-wide, and -count
	// runs the test again in the same process.
	testopenScheme := fmt.Sprintf("test-open-%d", schemeRuns.Add(1))
	called := false
	checkpoint.Register(testopenScheme, checkpoint.OpenerFunc(func(ctx context.Context, u *url.URL) (checkpoint.Store, error) {
		called = u.Host == "h"
		return checkpoint.NewMemoryStore(), nil
	}))
	if _, err := checkpoint.Open(context.Background(), testopenScheme+"://h"); err != nil || !called {
		t.Fatalf("registered opener: err %v, called %v", err, called)
	}
	found := false
	for _, s := range checkpoint.Schemes() {
		found = found || s == testopenScheme
	}
	if !found {
		t.Fatalf("Schemes() = %v, missing test-open", checkpoint.Schemes())
	}
	for _, f := range []func(){
		func() { checkpoint.Register(testopenScheme, checkpoint.OpenerFunc(nil)) },
		func() { checkpoint.Register("", checkpoint.OpenerFunc(nil)) },
		func() { checkpoint.Register("x-nil", nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("Register did not panic on a duplicate, empty scheme or nil opener")
				}
			}()
			f()
		}()
	}
}

func FuzzOpen(f *testing.F) {
	for _, s := range []string{"mem://", "file:///tmp/x", "file:rel", "dynamodb://t", "%", "file://h/x?y#z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if strings.HasPrefix(strings.ToLower(raw), "file") {
			return // would create directories anywhere
		}
		s, err := checkpoint.Open(context.Background(), raw)
		if err == nil {
			checkpoint.CloseStore(s)
		} else if err.Error() == "" {
			t.Fatal("empty error")
		}
	})
}

func ExampleOpen() {
	store, err := checkpoint.Open(context.Background(), "mem://")
	if err != nil {
		panic(err)
	}
	defer checkpoint.CloseStore(store)
	cp, _ := store.Load(context.Background(), checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"})
	fmt.Println(cp.Version)
	// Output: 0
}

// TestCheckURL: CheckURL refuses what Open refuses, creates nothing, and
// says so for a scheme whose opener cannot check.
func TestCheckURL(t *testing.T) {
	testcheckurlScheme := fmt.Sprintf("test-checkurl-%d", schemeRuns.Add(1)) // a scheme per run: -count repeats the test
	dir := filepath.Join(t.TempDir(), "not-created")
	tests := []struct {
		url  string
		want string // "" for a good URL
	}{
		{"mem://", ""},
		{"file://" + filepath.ToSlash(dir), ""},
		{"mem://x", "takes no name, path or query: expected mem://"},
		{"file://host/dir", `file URL host "host": expected file:///ABSOLUTE/PATH`},
		{"file:///dir?sync=1", "takes no user, query or fragment"},
		{"nosuch://x", `unknown scheme "nosuch"`},
		{"dir", "no scheme"},
	}
	for _, tt := range tests {
		err := checkpoint.CheckURL(tt.url)
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
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("CheckURL created the file store's directory (%v)", err)
	}
	checkpoint.Register(testcheckurlScheme, checkpoint.OpenerFunc(func(context.Context, *url.URL) (checkpoint.Store, error) {
		return nil, fmt.Errorf("not opened in this test")
	}))
	if err := checkpoint.CheckURL(testcheckurlScheme + "://x"); !errors.Is(err, driver.ErrURLNotChecked) {
		t.Errorf("CheckURL of a scheme without CheckURL = %v, want driver.ErrURLNotChecked", err)
	}
}
