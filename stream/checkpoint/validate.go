package checkpoint

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// check reports the first reason c cannot be a stored checkpoint: an
// invalid key, an unknown record status or a negative count. Stores call it
// before writing (so that every store accepts and refuses the same
// checkpoints) and after decoding (to detect corrupt data). Its errors are
// permanent (IsPermanent). It does not allocate when c is valid.
func (c *Checkpoint) check() error {
	if err := c.Key.Validate(); err != nil {
		return err
	}
	return c.checkBatch()
}

// checkBatch is check without the key: it reports a negative batch size, an
// unknown record status or negative attempts. The common case, a valid
// batch, takes one branch-free pass over the records; only a bad one takes
// the second pass that finds the first bad record for the message.
func (c *Checkpoint) checkBatch() error {
	b := c.Batch
	if b == nil {
		return nil
	}
	// bad has its sign bit set iff some count is negative or some status
	// is past the last one: maxStatus-s is negative exactly when s >
	// maxStatus.
	const maxStatus = len(statusNames) - 1
	bad := b.Size
	for i := range b.Records {
		r := &b.Records[i]
		bad |= r.Attempts | r.Interrupted | (maxStatus - int(r.Status))
	}
	if bad >= 0 {
		return nil
	}
	if b.Size < 0 {
		return Permanent(fmt.Errorf("checkpoint: %s: batch size %d is negative", c.Key, b.Size))
	}
	for i := range b.Records {
		r := &b.Records[i]
		if int(r.Status) >= len(statusNames) {
			return Permanent(fmt.Errorf("checkpoint: %s: batch record %d has unknown status %d (expected one of pending, in_progress, failed, succeeded, dead_lettered, skipped, halted)", c.Key, i, uint8(r.Status)))
		}
		if r.Attempts < 0 {
			return Permanent(fmt.Errorf("checkpoint: %s: batch record %d has negative attempts %d", c.Key, i, r.Attempts))
		}
		if r.Interrupted < 0 {
			return Permanent(fmt.Errorf("checkpoint: %s: batch record %d has negative interrupted attempts %d (expected 0 or more)", c.Key, i, r.Interrupted))
		}
	}
	return nil // not reached: bad < 0 means one of the checks above fails
}

// checkSave validates the argument of Store.Save.
func checkSave(cp *Checkpoint) error {
	if cp == nil {
		return Permanent(errors.New("checkpoint: save: nil checkpoint (expected a checkpoint to save)"))
	}
	return cp.check()
}

// checkGroup validates the consumer and stream arguments of Store.List.
func checkGroup(consumer, stream string) error {
	if consumer == "" || stream == "" {
		return Permanent(fmt.Errorf("checkpoint: list %q/%q: consumer and stream must both be non-empty", consumer, stream))
	}
	if !utf8.ValidString(consumer) || !utf8.ValidString(stream) {
		return Permanent(fmt.Errorf("checkpoint: list %q/%q: consumer and stream must be valid UTF-8", consumer, stream))
	}
	return nil
}

// conflict returns the ErrConflict error of a Save whose version does not
// match the stored one; stored is 0 when nothing is stored.
func conflict(key Key, expected, stored uint64) error {
	if stored == 0 {
		return fmt.Errorf("%w: %s: save expected stored version %d, but no checkpoint is stored (version 0)", ErrConflict, key, expected)
	}
	if expected == 0 {
		return fmt.Errorf("%w: %s: save expected no stored checkpoint (version 0), but version %d is stored", ErrConflict, key, stored)
	}
	return fmt.Errorf("%w: %s: save expected stored version %d, but version %d is stored", ErrConflict, key, expected, stored)
}
