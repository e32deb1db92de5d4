package main

import (
	"bytes"
	"testing"
)

func TestRun(t *testing.T) {
	t.Setenv("UNISTREAM_STREAM", "")
	var out bytes.Buffer
	res, err := run(t.Context(), &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if len(res.perKey) != 4 {
		t.Fatalf("keys %v", res.perKey)
	}
	for k, seqs := range res.perKey {
		if len(seqs) != 6 {
			t.Errorf("%s: %d records handled, want 6 (each once)", k, len(seqs))
		}
		for i, s := range seqs {
			if s != i {
				t.Errorf("%s handled out of order: %v", k, seqs)
				break
			}
		}
	}
	if res.maxParallel < 2 {
		t.Errorf("at most %d record at once: the keys did not run in parallel", res.maxParallel)
	}
	if res.maxParallel > 4 {
		t.Errorf("%d records at once with 4 keys: one key ran twice at once", res.maxParallel)
	}
}
