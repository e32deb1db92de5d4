package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/stream/driver/optvalue"
)

// tempModule lays out a module with the base spec at stream/x/adapter.yaml.
func tempModule(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write(t, filepath.Join(root, "go.mod"), "module example.com/m\n\ngo 1.26\n")
	write(t, filepath.Join(root, "stream", "x", "adapter.yaml"), baseSpec)
	return root
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRunWritesAndChecks(t *testing.T) {
	root := tempModule(t)
	var out bytes.Buffer
	if err := run(root, true, &out); !errors.Is(err, errOutOfDate) {
		t.Fatalf("check before generating: %v", err)
	}
	if !strings.Contains(out.String(), "out of date: stream/x/zz_generated_options.go") {
		t.Errorf("check output: %s", out.String())
	}
	if _, err := os.Stat(filepath.Join(root, "stream", "x", "zz_generated_options.go")); !errors.Is(err, os.ErrNotExist) {
		t.Error("check wrote a file")
	}
	out.Reset()
	if err := run(root, false, &out); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"stream/x/zz_generated_options.go", "stream/x/zz_generated_register.go",
		"stream/x/zz_generated_options_test.go", "stream/x/zz_generated_conformance_test.go", "docs/adapters.md"} {
		if !strings.Contains(out.String(), "gen: wrote "+f) {
			t.Errorf("output lacks %s:\n%s", f, out.String())
		}
	}
	b, err := os.ReadFile(filepath.Join(root, "stream", "x", "zz_generated_register.go"))
	if err != nil || !bytes.Contains(b, []byte(`"example.com/m/stream/driver"`)) {
		t.Errorf("register file: %v\n%s", err, b)
	}
	// A second run changes nothing; check passes.
	out.Reset()
	if err := run(root, false, &out); err != nil || out.Len() != 0 {
		t.Errorf("second run: %v, %q", err, out.String())
	}
	if err := run(root, true, &out); err != nil {
		t.Errorf("check after generating: %v", err)
	}
	// A hand edit of a generated file is drift.
	write(t, filepath.Join(root, "docs", "adapters.md"), "edited\n")
	out.Reset()
	if err := run(root, true, &out); !errors.Is(err, errOutOfDate) || out.String() != "out of date: docs/adapters.md\n" {
		t.Errorf("check after an edit: %v, %q", err, out.String())
	}
	// Turning the conformance entry off removes it.
	write(t, filepath.Join(root, "stream", "x", "adapter.yaml"), strings.Replace(baseSpec, "opener: open\n", "opener: open\nconformance: false\n", 1))
	out.Reset()
	if err := run(root, false, &out); err != nil || !strings.Contains(out.String(), "gen: removed stream/x/zz_generated_conformance_test.go") {
		t.Errorf("conformance: false: %v, %q", err, out.String())
	}
	if _, err := os.Stat(filepath.Join(root, "stream", "x", "zz_generated_conformance_test.go")); !errors.Is(err, os.ErrNotExist) {
		t.Error("the conformance entry is still there")
	}
}

func TestRunFindsRootAndSpecsUnderAdapters(t *testing.T) {
	root := tempModule(t)
	y := strings.NewReplacer("scheme: x", "scheme: y", "x://", "y://", "form: x:", "form: y:", "example: x:", "example: y:", "X_COUNT", "Y_COUNT").Replace(baseSpec)
	write(t, filepath.Join(root, "adapters", "y", "adapter.yaml"), y)
	found, err := findRoot(filepath.Join(root, "adapters", "y"))
	if err != nil || found != root {
		t.Fatalf("findRoot = %q, %v", found, err)
	}
	if _, err := findRoot(string(filepath.Separator)); err == nil {
		t.Error("findRoot found a go.mod above /")
	}
	var out bytes.Buffer
	if err := run(root, false, &out); err != nil {
		t.Fatal(err)
	}
	docs, _ := os.ReadFile(filepath.Join(root, "docs", "adapters.md"))
	if !bytes.Contains(docs, []byte("example.com/m/adapters/y")) || !bytes.Contains(docs, []byte("example.com/m/stream/x")) {
		t.Errorf("docs lack an adapter:\n%s", docs)
	}
}

func TestRunSpecProblems(t *testing.T) {
	root := tempModule(t)
	// A second spec with the same scheme and environment variable, and a
	// broken third one: every problem is reported, nothing is written.
	write(t, filepath.Join(root, "adapters", "dup", "adapter.yaml"), baseSpec)
	write(t, filepath.Join(root, "adapters", "bad", "adapter.yaml"), "scheme: [\n")
	err := run(root, false, &bytes.Buffer{})
	var se *SpecError
	if !errors.As(err, &se) {
		t.Fatalf("error = %v, want a *SpecError", err)
	}
	want := []string{
		"adapters/bad/adapter.yaml:1: invalid YAML",
		`stream/x/adapter.yaml:1: scheme "x" is already the scheme of adapters/dup/adapter.yaml`,
		"stream/x/adapter.yaml:12: environment variable X_COUNT is already used by adapters/dup/adapter.yaml (option Count)",
	}
	if len(se.Problems) != len(want) {
		t.Fatalf("problems:\n%s\nwant %d", se, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(se.Problems[i], w) {
			t.Errorf("problem %d = %q, want it to start with %q", i, se.Problems[i], w)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "docs")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a file was written despite spec problems")
	}
}

func TestReadModule(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ text, want string }{
		{"module example.com/a\n", "example.com/a"},
		{"// c\nmodule \"example.com/q\" // x\n", ""},
		{"module\texample.com/t\n", "example.com/t"},
		{"go 1.26\n", ""},
	}
	for _, tt := range tests {
		p := filepath.Join(dir, "go.mod")
		write(t, p, tt.text)
		got, err := readModule(p)
		if tt.want == "" {
			if err == nil && tt.text == "go 1.26\n" {
				t.Errorf("readModule(%q) = %q, want an error", tt.text, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("readModule(%q) = %q, %v, want %q", tt.text, got, err, tt.want)
		}
	}
	if _, err := readModule(filepath.Join(dir, "none")); err == nil {
		t.Error("readModule of a missing file succeeded")
	}
}

func TestSizes(t *testing.T) {
	valid := []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"512", 512}, {"1B", 1}, {"2kb", 2000}, {"3MB", 3e6}, {"1GB", 1e9}, {"1TB", 1e12},
		{"64KiB", 64 << 10}, {"5mib", 5 << 20}, {"1GiB", 1 << 30}, {"2TiB", 2 << 40}, {"9223372036854775807", 1<<63 - 1},
	}
	for _, tt := range valid {
		if got, err := parseSize(tt.in); err != nil || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v, want %d", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "B", "-1", "1.5MiB", "5 MiB", "5MiBs", "1e3", "9223372036854775808", "9999999TiB"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
	for v, want := range map[int64]string{0: "0B", 1: "1B", 1000: "1000B", 1024: "1KiB", 5 << 20: "5MiB", 3 << 30: "3GiB", 1 << 40: "1TiB", 1536: "1536B"} {
		if got := optvalue.FormatSize(v); got != want {
			t.Errorf("formatSize(%d) = %s, want %s", v, got, want)
		}
	}
}

func TestFormatting(t *testing.T) {
	for in, want := range map[string]string{"1h": "1h", "90m": "1h30m", "2m": "2m", "90s": "1m30s", "1ms": "1ms", "0s": "0s", "1h0m1s": "1h0m1s"} {
		v, err := parseNumber(typeDuration, in)
		if err != nil || formatNumber(typeDuration, v) != want {
			t.Errorf("duration %s shows as %s, want %s (%v)", in, formatNumber(typeDuration, v), want, err)
		}
	}
	if got := wrap("a bb ccc dddd", 6); strings.Join(got, "|") != "a bb|ccc|dddd" {
		t.Errorf("wrap = %q", got)
	}
	if got := anchor("In-memory (mem)"); got != "in-memory-mem" {
		t.Errorf("anchor = %q", got)
	}
	if got := sentence(" the thing. "); got != "The thing." {
		t.Errorf("sentence = %q", got)
	}
	if got := orList([]string{"a", "b", "c"}); got != "a, b or c" {
		t.Errorf("orList = %q", got)
	}
}
