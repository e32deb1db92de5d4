package dynamodb

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

func TestOpenURL(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-test")
	ep := endpoint(t)
	ctx := context.Background()
	table := fmt.Sprintf("opened-table-%d", tables.Add(1)) // dynalite outlives a run of -count
	s, err := checkpoint.Open(ctx, "dynamodb://"+table+"?region=us-east-1&create=true&create_timeout=10s&endpoint="+url.QueryEscape(ep))
	if err != nil {
		t.Fatal(err)
	}
	defer checkpoint.CloseStore(s)
	k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"}
	if err := s.Save(ctx, &checkpoint.Checkpoint{Key: k, Committed: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(checkpoint.Leaser); !ok {
		t.Fatal("the store opened by URL does not keep leases")
	}
	// Without create the table must exist: this one does now.
	s2, err := checkpoint.Open(ctx, "dynamodb://"+table+"?region=us-east-1&endpoint="+url.QueryEscape(ep))
	if err != nil {
		t.Fatal(err)
	}
	defer checkpoint.CloseStore(s2)
	if cp, err := s2.Load(ctx, k); err != nil || cp.Version != 1 {
		t.Fatalf("Load through a second URL store = %v, %v; want version 1", cp, err)
	}
}

func TestParseURLErrors(t *testing.T) {
	cases := []struct{ url, want string }{
		{"dynamodb://", "needs a table name"},
		{"dynamodb://t/path", "no path"},
		{"dynamodb://user:pw@t", "no user or password"},
		{"dynamodb://t?region=a&region=b", "given 2 times"},
		{"dynamodb://t?create=maybe", "expected true or false"},
		{"dynamodb://t?create=true&create_timeout=-1s", "positive duration"},
		{"dynamodb://t?create_timeout=1s", "without create=true"},
		{"dynamodb://t?tabel=x", `"tabel" is unknown`},
		{"dynamodb://t?a=%zz", "query"},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = ParseURL(u)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseURL(%s): err = %v, want one containing %q", tc.url, err, tc.want)
			}
			if strings.Contains(tc.url, "pw") && strings.Contains(err.Error(), "pw") {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
	u, _ := url.Parse("dynamodb://tbl?region=eu-west-1&endpoint=http%3A%2F%2F127.0.0.1%3A1&create=true")
	table, opts, err := ParseURL(u)
	if err != nil || table != "tbl" || len(opts) != 3 {
		t.Fatalf("ParseURL(good) = %q, %d options, %v; want tbl with 3 options", table, len(opts), err)
	}
}

// FuzzParseURL: ParseURL never panics, and a URL it accepts names a table
// and gives options that apply without error.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"dynamodb://t", "dynamodb://t?region=x&create=1", "dynamodb://t?create_timeout=1s&create=true", "dynamodb://@/?%", "dynamodb://t?endpoint=http://h:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		table, opts, err := ParseURL(u)
		if err != nil {
			return
		}
		if table == "" {
			t.Fatalf("ParseURL(%q) accepted an empty table", raw)
		}
		var c config
		for _, o := range opts {
			_ = o(&c) // an option may still refuse its value (a bad endpoint); it must not panic
		}
	})
}
