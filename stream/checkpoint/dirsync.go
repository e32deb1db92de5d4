package checkpoint

import "sync"

// dirSyncer makes renames in one directory durable with as few fsyncs of
// the directory as it can: a save whose rename is done waits for a sync
// that starts after it, and one sync serves every save waiting then. So
// partitions that save at the same time (a consumer of several
// partitions, at the end of their batches) share the directory's fsync,
// while each still returns only once its own rename is durable.
type dirSyncer struct {
	mu      sync.Mutex
	cond    sync.Cond
	started uint64 // syncs started
	done    uint64 // the last sync finished
	running bool
	waiting int   // callers waiting for a sync to finish
	err     error // the result of sync number done
	// sync is syncDir; a test may count or fail it.
	sync func(dir string) error
}

func newDirSyncer() *dirSyncer {
	d := &dirSyncer{sync: syncDir}
	d.cond.L = &d.mu
	return d
}

// syncAfterRename makes durable a rename in dir that is done: it returns
// the result of the first directory sync that started after this call.
func (d *dirSyncer) syncAfterRename(dir string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	// A sync running now may have read the directory before the rename:
	// only the next one to start is sure to cover it.
	need := d.started + 1
	for d.done < need {
		if d.running {
			d.waiting++
			d.cond.Wait()
			d.waiting--
			continue
		}
		d.running = true
		d.started++
		n := d.started
		d.mu.Unlock()
		err := d.sync(dir)
		d.mu.Lock()
		d.running = false
		d.done, d.err = n, err
		d.cond.Broadcast()
	}
	// Syncs run one at a time, numbered in order, and a waiter wakes at
	// each: it sees the one it needs finish, never a later one.
	return d.err
}
