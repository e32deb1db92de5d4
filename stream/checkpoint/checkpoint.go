// Package checkpoint holds the per-partition checkpoint model of the consumer
// engine and the stores that persist it.
//
// A Checkpoint records, for one consumer name and one partition, the pointer
// of the last record whose outcome is final (Committed) and the state of the
// current batch. The engine saves it when a batch is fetched (which also
// commits the batches before), when the commit policy commits, and when a
// record fails, is skipped, dead-lettered or halts, with compare-and-swap on
// Version, so that a crash at any instant loses no outcome that must
// survive it and two owners of one partition can never both write.
//
// Every Store passes the shared suite in package checkpoint/storetest.
//
//	store, err := checkpoint.NewFileStore("/var/lib/orders-consumer")
//	cp, err := store.Load(ctx, checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"})
package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/unistream-go/unistream/internal/errclass"
)

// Status is the state of one record of the current batch.
type Status uint8

// The record states. Records of the batch past Committed that have no
// RecordState are pending.
const (
	// Pending: fetched and persisted, no attempt yet.
	Pending Status = iota
	// InProgress: an attempt started (its attempt is already counted). Left
	// by a crash, it counts as a failed attempt and is retried.
	InProgress
	// Failed: the last attempt failed; retried at NextRetry.
	Failed
	// Succeeded: the handler returned nil. Final.
	Succeeded
	// DeadLettered: written to the DLQ after exhausting its attempts or a
	// permanent error. Final.
	DeadLettered
	// Skipped: the handler (or an operator) skipped it deliberately. Final.
	Skipped
	// Halted: the partition stopped at this record (ordered mode, or the DLQ
	// could not be written). Not final: it stays until an operator retries or
	// skips it.
	Halted
)

var statusNames = [...]string{"pending", "in_progress", "failed", "succeeded", "dead_lettered", "skipped", "halted"}

// String returns the snake_case name used in files and the CLI.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// ParseStatus reads a status name.
func ParseStatus(name string) (Status, error) {
	for i, n := range statusNames {
		if n == name {
			return Status(i), nil
		}
	}
	return 0, fmt.Errorf("checkpoint: unknown record status %q (expected one of pending, in_progress, failed, succeeded, dead_lettered, skipped, halted)", name)
}

// MarshalText implements encoding.TextMarshaler.
func (s Status) MarshalText() ([]byte, error) {
	if int(s) >= len(statusNames) {
		return nil, fmt.Errorf("checkpoint: invalid record status %d", uint8(s))
	}
	return []byte(statusNames[s]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Status) UnmarshalText(b []byte) error {
	v, err := ParseStatus(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Final reports whether the status is an outcome the commit can pass.
func (s Status) Final() bool { return s == Succeeded || s == DeadLettered || s == Skipped }

// Key names one checkpoint: a consumer name reading one partition of one
// stream.
type Key struct {
	Consumer  string `json:"consumer"`
	Stream    string `json:"stream"`
	Partition string `json:"partition"`
}

// String returns "consumer/stream/partition".
func (k Key) String() string { return k.Consumer + "/" + k.Stream + "/" + k.Partition }

// Validate checks that every part is set and is valid UTF-8 (so that every
// store, JSON files included, can keep the key exactly). Its error is
// permanent (IsPermanent): a store refuses the key however often it is
// retried.
func (k Key) Validate() error {
	if k.Consumer == "" || k.Stream == "" || k.Partition == "" {
		return Permanent(fmt.Errorf("checkpoint: key %q: consumer, stream and partition must all be non-empty", k.String()))
	}
	if !utf8.ValidString(k.Consumer) || !utf8.ValidString(k.Stream) || !utf8.ValidString(k.Partition) {
		return Permanent(fmt.Errorf("checkpoint: key %q: consumer, stream and partition must be valid UTF-8", k.String()))
	}
	return nil
}

// AttemptError is one failed attempt's error, kept for the DLQ envelope.
type AttemptError struct {
	Attempt int       `json:"attempt"`
	Time    time.Time `json:"time"`
	Error   string    `json:"error"`
}

// RecordState is the state of one record of the current batch that is past
// Committed and not pending.
type RecordState struct {
	Pointer  []byte `json:"pointer"`
	ID       string `json:"id,omitempty"`
	Status   Status `json:"status"`
	Attempts int    `json:"attempts"`
	// Interrupted is how many of the Attempts a crash of the consumer
	// interrupted: found InProgress on load, each counted as failed. The
	// handler reads it (stream.AttemptOf); Errors keeps only the last few.
	Interrupted int `json:"interrupted,omitempty"`
	// Errors holds the last errors, oldest first (at most MaxErrors).
	Errors []AttemptError `json:"errors,omitempty"`
	// NextRetry is when a Failed record may be attempted again.
	NextRetry time.Time `json:"next_retry,omitzero"`
	// FirstAttempt and LastAttempt are the start times of the first and the
	// latest attempt.
	FirstAttempt time.Time `json:"first_attempt,omitzero"`
	LastAttempt  time.Time `json:"last_attempt,omitzero"`
	// Exhausted marks a Failed record that will not be attempted again: it
	// used its attempts or failed permanently, and is being dead-lettered.
	// It is persisted so a crash before the DLQ write does not grant a new
	// attempt.
	Exhausted bool `json:"exhausted,omitempty"`
	// Reason explains a Halted or Skipped status, or why a record is
	// Exhausted ("exhausted" or "permanent").
	Reason string `json:"reason,omitempty"`
}

// MaxErrors is how many attempt errors a RecordState keeps.
const MaxErrors = 8

// LastError returns the latest error message, or "".
func (r *RecordState) LastError() string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[len(r.Errors)-1].Error
}

// AddError appends an attempt error, keeping at most MaxErrors.
func (r *RecordState) AddError(attempt int, t time.Time, msg string) {
	if n := len(r.Errors) - (MaxErrors - 1); n > 0 {
		// Drop the oldest, also when a decoded record holds more than
		// MaxErrors.
		copy(r.Errors, r.Errors[n:])
		r.Errors = r.Errors[:MaxErrors-1]
	}
	r.Errors = append(r.Errors, AttemptError{Attempt: attempt, Time: t, Error: msg})
}

// Batch is the batch being processed. Its records are those after Committed
// up to and including Last; the ones without a RecordState are pending.
type Batch struct {
	// Seq counts the batches fetched by this consumer on this partition.
	Seq uint64 `json:"seq"`
	// First and Last are the pointers of the batch's first and last record.
	First []byte `json:"first"`
	Last  []byte `json:"last"`
	// Size is the number of records in the batch.
	Size int `json:"size"`
	// Records are the non-pending records past Committed, in pointer order.
	Records []RecordState `json:"records,omitempty"`
	// Running is set while the engine handles the batch with its
	// successes kept in memory until the next commit (the default commit
	// cadence), and cleared by the save of a graceful stop. Found set on
	// load, the consumer stopped without saving them: it crashed, and the
	// batch is handled again in careful mode.
	Running bool `json:"running,omitempty"`
	// Careful marks a batch that the engine handles one record at a time,
	// with every attempt saved in_progress before its handler runs and its
	// outcome saved after: the batch a crash interrupted. A record that
	// kills the process is then charged one attempt per crash, and no
	// other record is. It ends when the batch is committed.
	Careful bool `json:"careful,omitempty"`
}

// Counts are cumulative outcomes on this partition.
type Counts struct {
	Succeeded    uint64 `json:"succeeded"`
	DeadLettered uint64 `json:"dead_lettered"`
	Skipped      uint64 `json:"skipped"`
	Retries      uint64 `json:"retries"`
}

// Checkpoint is the persisted progress of one consumer on one partition.
type Checkpoint struct {
	Key
	// Version is the compare-and-swap version: 0 for a checkpoint never saved.
	// Save succeeds only if the stored version equals it, then increments it.
	Version uint64 `json:"version"`
	// Committed is the pointer of the last record whose outcome is final and
	// all of whose predecessors are final; nil before the first one.
	Committed []byte `json:"committed,omitempty"`
	// Batch is the unfinished batch, or nil.
	Batch *Batch `json:"batch,omitempty"`
	// Finished reports that the partition is closed and fully processed.
	Finished bool `json:"finished,omitempty"`
	// Counts are cumulative outcomes.
	Counts Counts `json:"counts"`
	// UpdatedAt is when the engine last changed it.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Halted returns the record the partition is halted at, or nil.
func (c *Checkpoint) Halted() *RecordState {
	if c.Batch == nil {
		return nil
	}
	for i := range c.Batch.Records {
		if c.Batch.Records[i].Status == Halted {
			return &c.Batch.Records[i]
		}
	}
	return nil
}

// ErrNotHalted is returned by Retry and Skip on a partition that is not halted.
var ErrNotHalted = errors.New("checkpoint: partition is not halted")

// Retry resumes a halted partition: the halted record gets fresh attempts.
func (c *Checkpoint) Retry(now time.Time) error {
	r := c.Halted()
	if r == nil {
		return fmt.Errorf("%w: %s", ErrNotHalted, c.Key)
	}
	r.Status = Failed
	r.Attempts = 0
	r.Interrupted = 0
	r.Exhausted = false
	r.NextRetry = time.Time{}
	r.Reason = "retried by operator"
	c.UpdatedAt = now
	return nil
}

// Skip resumes a halted partition past the halted record, recorded as skipped
// with the reason. The engine advances Committed over it when it resumes.
func (c *Checkpoint) Skip(now time.Time, reason string) error {
	r := c.Halted()
	if r == nil {
		return fmt.Errorf("%w: %s", ErrNotHalted, c.Key)
	}
	r.Status = Skipped
	r.Reason = reason
	c.Counts.Skipped++
	c.UpdatedAt = now
	return nil
}

// Clone returns a deep copy.
func (c *Checkpoint) Clone() *Checkpoint {
	out := new(Checkpoint)
	c.CopyTo(out)
	return out
}

// CopyTo deep-copies c into dst, reusing dst's buffers, so that a store
// that keeps its own copy does not allocate on every Save. Like
// RecordState.copyTo it writes a field only when it differs, and copies
// bytes into the buffers dst has: a store's copy mostly differs from the
// next checkpoint saved in a few fields, and words that hold pointers cost
// a write barrier while the garbage collector runs.
func (c *Checkpoint) CopyTo(dst *Checkpoint) {
	if dst.Key != c.Key {
		dst.Key = c.Key
	}
	dst.Version, dst.Finished, dst.Counts = c.Version, c.Finished, c.Counts
	if dst.UpdatedAt != c.UpdatedAt {
		dst.UpdatedAt = c.UpdatedAt
	}
	setBytes(&dst.Committed, c.Committed)
	if c.Batch == nil {
		if dst.Batch != nil {
			dst.Batch = nil
		}
		return
	}
	if dst.Batch == nil {
		dst.Batch = new(Batch)
	}
	b, src := dst.Batch, c.Batch
	b.Seq, b.Size, b.Running, b.Careful = src.Seq, src.Size, src.Running, src.Careful
	setBytes(&b.First, src.First)
	setBytes(&b.Last, src.Last)
	n := len(src.Records)
	switch {
	case src.Records == nil:
		if b.Records != nil {
			b.Records = nil
		}
		return
	case b.Records == nil || cap(b.Records) < n:
		b.Records = make([]RecordState, 0, n) // non-nil even when n is 0
	}
	if len(b.Records) != n {
		b.Records = b.Records[:n]
	}
	for i := range src.Records {
		src.Records[i].copyTo(&b.Records[i])
	}
}

// setBytes makes *dst a copy of b in *dst's storage when it is large
// enough; nil stays nil and empty stays empty. The slice itself is
// written only when its length changes or its storage must grow.
func setBytes(dst *[]byte, b []byte) {
	switch d := *dst; {
	case b == nil:
		if d != nil {
			*dst = nil
		}
		return
	case d == nil || cap(d) < len(b):
		*dst = append(make([]byte, 0, len(b)), b...)
		return
	case len(d) != len(b):
		*dst = (*dst)[:len(b)]
	}
	copy(*dst, b)
}

// copyTo deep-copies r into d, reusing d's buffers. A store's copy is
// mostly the same record state as the one saved before (the engine
// changes one or two fields per save), so fields are written only when
// they differ: the words that hold pointers (slices, strings, a time's
// location) then need no write barrier while the garbage collector runs,
// which is most of the time in a consumer of a busy stream.
func (r *RecordState) copyTo(d *RecordState) {
	setBytes(&d.Pointer, r.Pointer)
	if d.ID != r.ID {
		d.ID = r.ID
	}
	d.Status, d.Attempts, d.Interrupted, d.Exhausted = r.Status, r.Attempts, r.Interrupted, r.Exhausted
	if r.Errors != nil || d.Errors != nil {
		if r.Errors == nil {
			d.Errors = nil
		} else if d.Errors = append(d.Errors[:0], r.Errors...); d.Errors == nil {
			d.Errors = []AttemptError{} // empty stays non-nil
		}
	}
	if d.NextRetry != r.NextRetry {
		d.NextRetry = r.NextRetry
	}
	if d.FirstAttempt != r.FirstAttempt {
		d.FirstAttempt = r.FirstAttempt
	}
	if d.LastAttempt != r.LastAttempt {
		d.LastAttempt = r.LastAttempt
	}
	if d.Reason != r.Reason {
		d.Reason = r.Reason
	}
}

// Errors a Store returns.
var (
	// ErrConflict: Save's version did not match the stored one; another
	// owner wrote the checkpoint. The caller must reload; it does not own
	// the partition any more.
	ErrConflict = errors.New("checkpoint: version conflict")
	// ErrCorrupt: stored data could not be decoded. Never reset silently.
	ErrCorrupt = errors.New("checkpoint: corrupt data")
	// ErrTooLarge: the checkpoint is larger than the store can keep in
	// one document (a DynamoDB item, Kafka commit metadata). Retrying
	// does not help.
	ErrTooLarge = errors.New("checkpoint: checkpoint too large for the store")
)

// errPermanent is the class of the errors marked with Permanent.
var errPermanent = errors.New("checkpoint: permanent store error")

// Permanent marks err as a store error that retrying cannot cure (the
// store refused the key, the credentials were rejected, a fence was
// lost). A store wraps its errors with it where its backend says so; the
// consumer ends the partition on such an error instead of retrying.
// Permanent(nil) is nil.
func Permanent(err error) error {
	return errclass.Mark(err, errPermanent)
}

// IsPermanent reports whether a store error is permanent: corrupt data
// (ErrCorrupt), a lost compare-and-swap (ErrConflict), a checkpoint too
// large for the store (ErrTooLarge), or an error marked with Permanent.
// Every other store error is transient: the consumer pauses the partition
// and retries it with backoff until it succeeds.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	return errors.Is(err, ErrCorrupt) || errors.Is(err, ErrConflict) || errors.Is(err, ErrTooLarge) || errors.Is(err, errPermanent)
}

// Store persists checkpoints with compare-and-swap.
type Store interface {
	// Load returns the checkpoint for key, or a new one with Version 0 and
	// the key set if none was saved.
	Load(ctx context.Context, key Key) (*Checkpoint, error)
	// Save writes cp if the stored version equals cp.Version (0 = must not
	// exist), then sets cp.Version to the new version. Otherwise it returns
	// an error matching ErrConflict and leaves cp unchanged.
	Save(ctx context.Context, cp *Checkpoint) error
	// List returns the saved checkpoints of a consumer on a stream, sorted
	// by partition.
	List(ctx context.Context, consumer, stream string) ([]*Checkpoint, error)
}
