package checkpoint

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestDirSyncerShares: saves whose renames are done while a directory sync
// runs wait for the next sync, which serves them all at once; each gets
// the result of a sync that started after its rename, errors included.
func TestDirSyncerShares(t *testing.T) {
	d := newDirSyncer()
	var mu sync.Mutex
	syncs := 0
	started := make(chan int, 10)
	release := make(chan error)
	d.sync = func(string) error {
		mu.Lock()
		syncs++
		n := syncs
		mu.Unlock()
		started <- n
		return <-release
	}
	first := make(chan error, 1)
	go func() { first <- d.syncAfterRename("dir") }()
	if n := <-started; n != 1 {
		t.Fatalf("sync %d started first", n)
	}
	// Five more renames while sync 1 runs: none may count on it.
	const more = 5
	results := make(chan error, more)
	for range more {
		go func() { results <- d.syncAfterRename("dir") }()
	}
	// Let every waiter register before sync 1 ends: they block on cond.
	waitFor(t, func() bool { return waiters(d) == more })
	release <- nil
	if err := <-first; err != nil {
		t.Fatalf("first save: %v", err)
	}
	if n := <-started; n != 2 {
		t.Fatalf("sync %d started second", n)
	}
	boom := errors.New("EIO")
	release <- boom
	for range more {
		if err := <-results; !errors.Is(err, boom) {
			t.Errorf("a save waiting for sync 2 got %v, want its error", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if syncs != 2 {
		t.Errorf("%d directory syncs for %d saves, want 2 (the five waiting share one)", syncs, more+1)
	}
}

// waiters counts the goroutines blocked in syncAfterRename, from the
// syncer's own bookkeeping.
func waiters(d *dirSyncer) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.waiting
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
