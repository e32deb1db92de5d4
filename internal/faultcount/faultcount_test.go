package faultcount

import (
	"sync"
	"testing"
)

func TestCounts(t *testing.T) {
	var c Counts
	if c.Take("a") {
		t.Fatal("Take on an unset key reported a failure")
	}
	c.Set("a", 2)
	c.Set("b", -3)
	got := []bool{c.Take("a"), c.Take("a"), c.Take("a"), c.Take("b")}
	if want := []bool{true, true, false, false}; !equal(got, want) {
		t.Fatalf("Take = %v, want %v", got, want)
	}
	c.Set("a", 1)
	c.Set("a", 0)
	if c.Take("a") {
		t.Fatal("Set 0 did not clear the key")
	}
}

func TestCountsConcurrentTakesExactlyN(t *testing.T) {
	var c Counts
	c.Set("k", 100)
	var wg sync.WaitGroup
	var mu sync.Mutex
	taken := 0
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if c.Take("k") {
					mu.Lock()
					taken++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if taken != 100 {
		t.Fatalf("%d failures taken by concurrent callers, want exactly 100", taken)
	}
}

func equal(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
