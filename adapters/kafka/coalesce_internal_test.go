package kafka

import (
	"fmt"
	"sync"
	"testing"
)

// TestCoalescer calls do from 40 goroutines, 25 times each, over two
// keys: every value is handled exactly once, by a run of its own key,
// before its do returns, and no queue is left behind. (How many calls
// share a run depends on the scheduling; TestStoreCoalescesRequests
// counts the requests a store makes.)
func TestCoalescer(t *testing.T) {
	type val struct {
		key     string
		handled int
	}
	var c coalescer[val]
	var mu sync.Mutex
	runs, sizes := 0, 0
	var wg sync.WaitGroup
	for g := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				v := &val{key: fmt.Sprintf("k%d", (g+i)%2)}
				c.do(v.key, v, func(vs []*val) {
					mu.Lock()
					runs++
					sizes += len(vs)
					mu.Unlock()
					for _, x := range vs {
						if x.key != v.key {
							t.Errorf("a run of key %s got a value of key %s", v.key, x.key)
						}
						x.handled++
					}
				})
				if v.handled != 1 {
					t.Errorf("do returned with its value handled %d times", v.handled)
				}
			}
		}()
	}
	wg.Wait()
	if sizes != 40*25 {
		t.Errorf("runs handled %d values, want %d", sizes, 40*25)
	}
	if len(c.qs) != 0 {
		t.Errorf("%d queues left after every call returned", len(c.qs))
	}
	t.Logf("%d calls in %d runs", sizes, runs)
}
