package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/config"
)

// The same program on two backends, chosen by the environment.
func TestRun(t *testing.T) {
	for _, tt := range []struct{ name, url string }{
		{"embedded kafka", ""},
		{"memory", "mem://swap-example?partitions=3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("UNISTREAM_STREAM", tt.url)
			t.Setenv("UNISTREAM_CHECKPOINT", "file://"+t.TempDir())
			cfg := &config.Config{}
			if err := cfg.ApplyEnv(func(k string) (string, bool) {
				switch k {
				case "UNISTREAM_STREAM":
					return tt.url, tt.url != ""
				case "UNISTREAM_CHECKPOINT":
					return "file://" + t.TempDir(), true
				}
				return "", false
			}); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := run(t.Context(), &out, cfg); err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), "consumed 6 records") || strings.Count(out.String(), "bought item") != 6 {
				t.Errorf("output:\n%s", out.String())
			}
			if tt.url == "" && !strings.Contains(out.String(), "kafka://127.0.0.1") {
				t.Errorf("the default is not the embedded Kafka:\n%s", out.String())
			}
		})
	}
}
