package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestLogFlags(t *testing.T) {
	tests := []struct {
		level, format, output string
		err                   string // "" for valid flags
		json                  bool   // the lines are JSON
		debug, info, warn     bool   // which of a Debug, Info and Warn line show
	}{
		{level: "info", output: "text", info: true, warn: true},
		{level: "debug", format: "text", output: "text", debug: true, info: true, warn: true},
		{level: "warn", format: "json", output: "text", json: true, warn: true},
		{level: "error", output: "text"},
		{level: "info", output: "json", json: true, info: true, warn: true}, // the format follows --output json
		{level: "info", format: "text", output: "json", info: true, warn: true},
		{level: "verbose", output: "text", err: `--log-level "verbose": expected debug, info, warn or error`},
		{level: "INFO", output: "text", err: `--log-level "INFO": expected debug, info, warn or error`},
		{level: "info", format: "logfmt", output: "text", err: `--log-format "logfmt": expected text or json`},
	}
	for _, tt := range tests {
		t.Run(tt.level+"/"+tt.format+"/"+tt.output, func(t *testing.T) {
			g := &globals{logLevel: tt.level, logFormat: tt.format, output: tt.output}
			err := g.check()
			if tt.err != "" {
				var ue *usageError
				if !errors.As(err, &ue) || err.Error() != tt.err {
					t.Fatalf("check = %v, want the usage error %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("check = %v", err)
			}
			var buf bytes.Buffer
			l := g.logger(&buf)
			l.Debug("d-line")
			l.Info("i-line")
			l.Warn("w-line")
			out := buf.String()
			for line, want := range map[string]bool{"d-line": tt.debug, "i-line": tt.info, "w-line": tt.warn} {
				if strings.Contains(out, line) != want {
					t.Errorf("%s shown = %v, want %v:\n%s", line, !want, want, out)
				}
			}
			if out != "" && strings.HasPrefix(out, "{") != tt.json {
				t.Errorf("JSON = %v, want %v:\n%s", !tt.json, tt.json, out)
			}
		})
	}
}

func TestEngineLoggerOnlyWhenAsked(t *testing.T) {
	g := &globals{logLevel: "info", output: "text"}
	if o := g.engineLogger(&bytes.Buffer{}); o != nil {
		t.Errorf("engineLogger without --log-level/--log-format = %v, want nil: the command's display shows the events already", o)
	}
	g.logSet = true
	if o := g.engineLogger(&bytes.Buffer{}); o == nil {
		t.Error("engineLogger with a log flag = nil, want stream.WithLogger")
	}
}
