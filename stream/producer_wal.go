package stream

import (
	"errors"
	"time"
)

// kickWAL wakes the WAL writer.
func (p *Producer) kickWAL() {
	select {
	case p.walKick <- struct{}{}:
	default:
	}
}

// walGroupBytes bounds the bytes the WAL buffers before its writer is
// woken: a batch's worth, at most 1 MiB.
func (p *Producer) walGroupBytes() int { return min(p.cfg.maxBytes, 1<<20) }

func (p *Producer) noteWALErr(err error) {
	p.mu.Lock()
	prev := p.walErr
	p.walErr = err
	p.mu.Unlock()
	p.logWALError(prev, err)
}

// askMaint asks the WAL writer for the maintenance (cut back or
// compaction) the WAL asked for, unless a request it has not taken yet
// covers it (Maintain looks at the log when it runs).
func (p *Producer) askMaint() {
	p.mu.Lock()
	if p.walMaint == nil {
		ch := make(chan struct{})
		p.walMaint, p.maint = ch, ch
	}
	p.mu.Unlock()
	p.kickWAL()
}

// waitMaint waits until the WAL writer did the last maintenance asked
// for, if any, or the producer stops. With one lane only: the wait keeps
// the WAL's sequence of operations the same whatever the timing (the crash
// tests count on it), which several lanes acknowledging and syncing at once
// do not anyway, and the log needs no such order (MarkAcked and SyncTo may
// run during a maintenance).
func (p *Producer) waitMaint() {
	if len(p.lanes) > 1 {
		return
	}
	p.mu.Lock()
	ch := p.maint
	p.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case <-ch:
	case <-p.stopCtx.Done():
	}
}

// walLoop is the WAL writer goroutine of FsyncPerBatch and FsyncInterval.
// It is woken (walKick) when a batch's worth of records was appended since
// the last sync, and by a sender when it starts the Write of a batch while
// later records wait: it then writes those records ahead of the senders
// (with FsyncPerBatch it also fsyncs them), so that the fsync of the next
// batch overlaps the Write of the current one and the senders find their
// records already durable, and so that records waiting behind a stream
// outage reach the disk. With FsyncPerBatch it also does, before that sync,
// the maintenance the WAL asked for on acknowledgement (cutting the file
// back or compacting it), so that it overlaps the senders' next Writes
// instead of following their acknowledgement. Every interval of real time
// (MaxAge with FsyncPerBatch), it syncs what was appended and not synced
// yet.
func (p *Producer) walLoop(interval time.Duration) {
	defer close(p.walDone)
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		var err error
		select {
		case <-p.walKick:
			p.mu.Lock()
			target, maint := p.walTarget, p.walMaint
			p.walMaint, p.walBusy = nil, true
			p.mu.Unlock()
			if maint != nil {
				// First, so that the senders' kicks that came with or
				// after it find the same log whatever the timing.
				err = p.log.Maintain()
				p.mu.Lock()
				if p.maint == maint {
					p.maint = nil
				}
				p.mu.Unlock()
				close(maint)
			}
			if p.cfg.fsync == FsyncPerBatch {
				err = errors.Join(err, p.log.SyncTo(target))
			} else {
				err = errors.Join(err, p.log.Flush())
			}
			p.mu.Lock()
			p.walBusy = false
			p.mu.Unlock()
		case <-tick:
			if p.cfg.fsync == FsyncPerBatch {
				err = p.log.SyncTo(p.log.LastSeq())
			} else {
				err = p.log.Sync()
			}
		case <-p.stopCtx.Done():
			return
		}
		if err != nil {
			p.noteWALErr(err)
		}
	}
}
