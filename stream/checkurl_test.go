package stream_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/memstream"
)

// TestCheckURL: CheckURL refuses what Open refuses, with the adapter's own
// parser and the same words, opens nothing, and says so for a scheme whose
// opener cannot check.
// schemeRuns numbers the schemes the tests register.
var schemeRuns atomic.Int64

func TestCheckURL(t *testing.T) {
	// A scheme of its own per run: the registry is process-wide, and -count
	// runs the test again in the same process.
	checkurltestScheme := fmt.Sprintf("checkurl-test-%d", schemeRuns.Add(1))
	tests := []struct {
		url  string
		want string // "" for a good URL
	}{
		{"mem://checkurl-good?partitions=3", ""},
		{"mem://orders?partitions=0", `URL option partitions="0": expected an integer from 1 to 4096`},
		{"mem://orders?partitions=2&sasl_password=SECRET1", `URL query key "sasl_password" is unknown`},
		{"mem://orders?bogus=1", `URL query key "bogus" is unknown (valid keys:`},
		{"nosuch://h/t?api_token=SECRET1", `unknown scheme "nosuch"`},
		{"://bad?password=SECRET1", "malformed URL"},
		{"orders", "no scheme"},
	}
	for _, tt := range tests {
		err := stream.CheckURL(tt.url)
		if tt.want == "" {
			if err != nil {
				t.Errorf("CheckURL(%q) = %v, want nil", tt.url, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "SECRET1") {
			t.Errorf("CheckURL(%q) = %v, want an error with %q and no secret", tt.url, err, tt.want)
		}
		if _, oerr := stream.Open(context.Background(), tt.url); oerr == nil {
			t.Errorf("Open(%q) succeeded where CheckURL failed", tt.url)
		}
	}
	if slices.Contains(memstream.Default().Names(), "checkurl-good") {
		t.Error("CheckURL created the memory stream")
	}

	driver.Register(checkurltestScheme, driver.OpenerFunc(func(context.Context, *url.URL) (driver.Stream, error) {
		return nil, errors.New("not opened in this test")
	}))
	if err := stream.CheckURL(checkurltestScheme + "://x"); !errors.Is(err, driver.ErrURLNotChecked) {
		t.Errorf("CheckURL of a scheme without URLChecker = %v, want driver.ErrURLNotChecked", err)
	}
}
