package config_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/unistream-go/unistream/config"
	"github.com/unistream-go/unistream/stream/driver"
)

// TestCheckURLs: every bad URL is reported with its key, where it was set,
// the bad option and what was expected; a scheme that cannot be checked is
// named, not passed silently.
// schemeRuns numbers the schemes the tests register.
var schemeRuns atomic.Int64

func TestCheckURLs(t *testing.T) {
	// A scheme of its own per run: the registry is process-wide, and -count
	// runs the test again in the same process.
	configuncheckableScheme := fmt.Sprintf("config-uncheckable-%d", schemeRuns.Add(1))
	cfg, err := config.Parse("c.yaml", []byte("stream: mem://orders?partitions=0\ncheckpoint: mem://x\ndlq: file:///x.jsonl?mode=1\n"))
	if err != nil {
		t.Fatal(err)
	}
	unchecked, err := cfg.CheckURLs()
	if err == nil || len(unchecked) != 0 {
		t.Fatalf("CheckURLs = %v, %v; want three errors", unchecked, err)
	}
	for _, want := range []string{
		`stream (from config file c.yaml line 1): stream: URL mem://orders?partitions=0: memstream: URL option partitions="0": expected an integer from 1 to 4096`,
		"checkpoint (from config file c.yaml line 2): ", "expected mem://",
		"dlq (from config file c.yaml line 3): ", "takes no user, query or fragment: expected file:///ABSOLUTE/PATH",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("CheckURLs error lacks %q:\n%v", want, err)
		}
	}

	good := &config.Config{Stream: "mem://orders?partitions=2", Checkpoint: "mem://", DLQ: "file:///x.jsonl"}
	if unchecked, err := good.CheckURLs(); err != nil || len(unchecked) != 0 {
		t.Errorf("CheckURLs of good URLs = %v, %v", unchecked, err)
	}
	if unchecked, err := (&config.Config{}).CheckURLs(); err != nil || len(unchecked) != 0 {
		t.Errorf("CheckURLs with no URL set = %v, %v", unchecked, err)
	}

	driver.Register(configuncheckableScheme, driver.OpenerFunc(func(context.Context, *url.URL) (driver.Stream, error) {
		return nil, errors.New("not opened in this test")
	}))
	unchecked, err = (&config.Config{Stream: configuncheckableScheme + "://x", DLQ: configuncheckableScheme + "://y"}).CheckURLs()
	if err != nil || len(unchecked) != 2 || !strings.HasPrefix(unchecked[0], "stream: ") || !strings.HasPrefix(unchecked[1], "dlq: ") {
		t.Errorf("CheckURLs of an uncheckable scheme = %q, %v; want both named as unchecked", unchecked, err)
	}
}
