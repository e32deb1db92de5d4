package kafka

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// DefaultMaxMetadataBytes is the default limit of a checkpoint's encoded
// commit metadata: Kafka's default offset.metadata.max.bytes.
const DefaultMaxMetadataBytes = 4096

// ErrMetadataTooLarge is returned (wrapped) by Store.Save when a
// checkpoint's encoded batch state does not fit in the offset commit
// metadata the broker accepts (offset.metadata.max.bytes). Raise the
// broker's limit and WithMaxMetadataBytes together, or use smaller
// batches, fewer concurrent records or shorter handler errors. It matches
// checkpoint.ErrTooLarge (errors.Is), so the engine sees a permanent
// error.
var ErrMetadataTooLarge error = &wrapSentinel{msg: "kafka: checkpoint too large for the offset commit metadata", err: checkpoint.ErrTooLarge}

// wrapSentinel is a sentinel error of its own message that also matches
// another (errors.Is).
type wrapSentinel struct {
	msg string
	err error
}

func (e *wrapSentinel) Error() string { return e.msg }
func (e *wrapSentinel) Unwrap() error { return e.err }

// metaPrefix starts the commit metadata of a checkpoint this store wrote
// (format 1). Metadata without it was written by another client.
const metaPrefix = "unistream1:"

// Store is a checkpoint.Store that keeps each checkpoint in Kafka itself,
// as the committed offset of a consumer group: the checkpoint of consumer
// C on stream T, partition P, is group C's commit for topic T, partition
// P. Kafka tools (kafka-consumer-groups --describe) show the engine's
// progress and lag as for any consumer group.
//
// The committed offset follows Kafka's convention: it is the offset of the
// next record to read, Committed+1 (the engine's Committed is the last
// final record). A checkpoint with nothing committed commits offset -1.
// The rest of the checkpoint (the version, the current batch with every
// record's state, the counts) travels in the commit's metadata string:
// "unistream1:" and the checkpoint's JSON, deflated and base64url-encoded.
// A checkpoint whose metadata would exceed the limit (WithMaxMetadataBytes,
// default 4096, Kafka's offset.metadata.max.bytes) is refused with
// ErrMetadataTooLarge, and so is one the broker refuses as too large.
//
// Compare-and-swap: the version is in the metadata, and Save compares it
// with the committed one before it writes. Within one process Save is
// atomic per key, for every Store over one Stream. Across processes Kafka
// offers no compare-and-swap; what fences a stale writer is the group
// generation: when the Store's Stream is a member of group C
// (stream.WithGroup), Save commits with that member's id and generation,
// and the broker rejects the commit of a member that was fenced out
// (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID): Save then
// returns an error matching checkpoint.ErrConflict. A Store whose Stream
// is not in the group commits as a standalone client (generation -1),
// which the broker accepts only while the group has no live members.
//
// Save reads the current commit (an OffsetFetch) before it writes, unless
// the Stores of its Stream know it: as group C's member, in the member's
// current generation, they committed or loaded that version last. In one
// generation only the partition's owner commits it (a fenced member's
// commits are refused, and so are a standalone client's while the group
// has members), so the version they know is the committed one, and a Save
// of the engine that owns the partition is one OffsetCommit. A standalone
// Store reads before every write, so that a Save from a stale version
// still fails with checkpoint.ErrConflict when another process committed
// since.
//
// A commit without this store's metadata (written by a plain Kafka
// consumer, or reset by kafka-consumer-groups --reset-offsets) loads as a
// checkpoint of version 0 at that position, so the engine adopts it; a
// commit with this store's prefix that cannot be decoded is corrupt
// (checkpoint.ErrCorrupt) and is never overwritten.
//
// Keys must name a Kafka topic partition: Stream a valid topic name and
// Partition a partition number of it ("0" to "N-1"), as the Kafka adapter's
// consumers use. Other keys are refused with an error.
//
// Errors are classified for checkpoint.IsPermanent: a fenced commit and a
// stale version match checkpoint.ErrConflict; metadata too large (this
// store's limit, or the broker's OFFSET_METADATA_TOO_LARGE or
// INVALID_COMMIT_OFFSET_SIZE) matches ErrMetadataTooLarge and
// checkpoint.ErrTooLarge; an invalid key or checkpoint, a closed client and
// the broker errors Kafka marks non-retriable (authorization failures,
// UNSUPPORTED_VERSION, INVALID_REQUEST, ...) are permanent. Retriable
// broker errors, REBALANCE_IN_PROGRESS (once commit's own retries ran
// out), UNKNOWN_SERVER_ERROR, network errors and a done context are
// transient.
type Store struct {
	s       *Stream
	maxMeta int

	idsMu sync.Mutex
	ids   map[string][16]byte // topic ids (OffsetCommit v10 names topics by id)
}

// commitState is what the Stores of one Stream know of the commits they
// made or read: a Save holds its key's lock from its check of the version
// to the end of its commit, and the version committed as a group member in
// a generation lets the next Save of that member in that generation skip
// the OffsetFetch (see Store).
type commitState struct {
	locks [64]sync.Mutex // per key hash: Save's check-then-commit is atomic in-process

	mu    sync.Mutex
	known map[checkpoint.Key]knownCommit

	// commitQ and fetchQ coalesce the commits and the one-partition
	// offset fetches asked for at once (coalescer).
	commitQ coalescer[commitCall]
	fetchQ  coalescer[fetchCall]
}

// knownCommit is the version of a key committed by member of its group in
// generation gen, as this process committed or fetched it last.
type knownCommit struct {
	version uint64
	member  string
	gen     int32
}

// lookup returns what is known of key's commit.
func (c *commitState) lookup(key checkpoint.Key) (knownCommit, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.known[key]
	return k, ok
}

// remember records key's commit; a generation below 0 (no member) is not
// worth keeping: a standalone Save always reads first.
func (c *commitState) remember(key checkpoint.Key, k knownCommit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k.gen < 0 {
		delete(c.known, key)
		return
	}
	if c.known == nil {
		c.known = map[checkpoint.Key]knownCommit{}
	}
	c.known[key] = k
}

// forget drops what is known of key's commit, after an error that leaves
// the committed version unknown.
func (c *commitState) forget(key checkpoint.Key) {
	c.mu.Lock()
	delete(c.known, key)
	c.mu.Unlock()
}

var _ checkpoint.Store = (*Store)(nil)

// StoreOption configures a Store.
type StoreOption func(*Store)

// WithMaxMetadataBytes sets the largest commit metadata Save writes
// (default DefaultMaxMetadataBytes); set it to the brokers'
// offset.metadata.max.bytes. Values below 64 are raised to 64.
func WithMaxMetadataBytes(n int) StoreOption {
	return func(st *Store) { st.maxMeta = max(n, 64) }
}

// NewStore returns a checkpoint store on the brokers of s, using s's
// client; it is closed with s. Saves of a consumer that is a member of a
// group through s (stream.WithGroup on a consumer of s) are fenced by the
// member's generation.
func NewStore(s *Stream, opts ...StoreOption) *Store {
	st := &Store{s: s, maxMeta: DefaultMaxMetadataBytes}
	for _, o := range opts {
		o(st)
	}
	return st
}

// coords maps a key to its group, topic and partition.
func coords(key checkpoint.Key) (topic string, p int32, err error) {
	if err := key.Validate(); err != nil {
		return "", 0, err
	}
	if err := validateTopic(key.Stream); err != nil {
		return "", 0, checkpoint.Permanent(fmt.Errorf("kafka: checkpoint %s: the stream must be a Kafka topic: %w", key, err))
	}
	p, err = parsePartition(key.Partition)
	if err != nil {
		return "", 0, checkpoint.Permanent(fmt.Errorf("kafka: checkpoint %s: the partition must be a Kafka partition number: %w", key, err))
	}
	return key.Stream, p, nil
}

// lock returns the mutex of key, shared by the Stores of the stream.
func (st *Store) lock(key checkpoint.Key) *sync.Mutex {
	h := uint32(2166136261) // FNV-1a, without an allocation
	for _, part := range [...]string{key.Consumer, key.Stream, key.Partition} {
		for i := 0; i < len(part); i++ {
			h = (h ^ uint32(part[i])) * 16777619
		}
		h *= 16777619 // a zero byte between the parts
	}
	locks := &st.s.commits.locks
	return &locks[h%uint32(len(locks))]
}

// groupMember returns the member id and generation the stream's member of
// group commits with, or "", -1 when the stream is not in the group.
func (st *Store) groupMember(group string) (string, int32) {
	if m := st.s.memberOf(group); m != nil {
		return m.cl.GroupMetadata()
	}
	return "", -1
}

// commitDoc is the checkpoint in the commit metadata, without its key
// (the commit's coordinates) and committed pointer (the offset).
type commitDoc struct {
	Version uint64            `json:"v"`
	Raw     []byte            `json:"c,omitempty"` // Committed, when it is not a Kafka pointer
	Batch   *checkpoint.Batch `json:"b,omitempty"`
	Done    bool              `json:"f,omitempty"`
	Counts  checkpoint.Counts `json:"n"`
	Updated time.Time         `json:"u,omitzero"`
}

// encoder is the reusable state of one encode: the JSON, its deflated
// form, the compressors and the metadata being built. A flate.Writer is
// some 650 KB, too much to build per Save: encoders are pooled.
type encoder struct {
	js   bytes.Buffer
	json *json.Encoder // into js
	z    bytes.Buffer
	fast *flate.Writer // BestSpeed, into z
	best *flate.Writer // BestCompression, into z; made on first need
	meta []byte
}

var encoders = sync.Pool{New: func() any {
	e := &encoder{}
	e.json = json.NewEncoder(&e.js)
	e.fast, _ = flate.NewWriter(&e.z, flate.BestSpeed) // the level is valid
	return e
}}

// deflate sets e.meta to the metadata of the JSON in e.js, compressed by
// zw.
func (e *encoder) deflate(zw *flate.Writer) {
	js := e.js.Bytes()
	js = js[:len(js)-1] // json.Encoder ends the value with a newline
	e.z.Reset()
	zw.Reset(&e.z)
	zw.Write(js) // into a bytes.Buffer: no error
	zw.Close()
	e.meta = base64.RawURLEncoding.AppendEncode(append(e.meta[:0], metaPrefix...), e.z.Bytes())
}

// encode returns the commit offset and metadata of cp at version v.
//
// The JSON is deflated at BestSpeed: on checkpoints of 0 to 80 record
// states its output is within 1.5% of BestCompression's, in a third to
// half the time. Metadata over the limit at BestSpeed is deflated again at
// BestCompression, so that every checkpoint that fits at BestCompression
// is saved.
func (st *Store) encode(cp *checkpoint.Checkpoint, v uint64) (int64, string, error) {
	doc := commitDoc{Version: v, Batch: cp.Batch, Done: cp.Finished, Counts: cp.Counts, Updated: cp.UpdatedAt}
	offset := int64(-1)
	if cp.Committed != nil {
		if off, err := Offset(cp.Committed); err == nil {
			offset = off + 1
		} else {
			doc.Raw = cp.Committed
		}
	}
	e := encoders.Get().(*encoder)
	defer encoders.Put(e)
	e.js.Reset()
	if err := e.json.Encode(&doc); err != nil {
		return 0, "", checkpoint.Permanent(fmt.Errorf("kafka: save checkpoint %s: encode: %w", cp.Key, err))
	}
	e.deflate(e.fast)
	if len(e.meta) > st.maxMeta {
		if e.best == nil {
			e.best, _ = flate.NewWriter(&e.z, flate.BestCompression) // the level is valid
		}
		e.deflate(e.best)
	}
	if len(e.meta) > st.maxMeta {
		return 0, "", fmt.Errorf("%w: %s: the encoded batch state is %d bytes, the limit is %d (offset.metadata.max.bytes; %d records in the batch state)",
			ErrMetadataTooLarge, cp.Key, len(e.meta), st.maxMeta, batchLen(cp))
	}
	return offset, string(e.meta), nil
}

func batchLen(cp *checkpoint.Checkpoint) int {
	if cp.Batch == nil {
		return 0
	}
	return len(cp.Batch.Records)
}

// maxDecoded bounds the inflated metadata: a decompression bomb is corrupt.
const maxDecoded = 1 << 20

// decoder is the reusable state of one decode: a flate.Reader is some
// 40 KB, too much to build per Load (and per Save of a standalone Store):
// decoders are pooled.
type decoder struct {
	src bytes.Reader
	zr  io.ReadCloser // a flate reader of src
	js  bytes.Buffer
}

var decoders = sync.Pool{New: func() any { return new(decoder) }}

// decode reads a commit back. committed is false when nothing is committed.
func decode(key checkpoint.Key, offset int64, meta string, committed bool) (*checkpoint.Checkpoint, error) {
	cp := &checkpoint.Checkpoint{Key: key}
	if !committed {
		return cp, nil
	}
	if !strings.HasPrefix(meta, metaPrefix) {
		// Another client's commit: adopt its position, as version 0.
		if offset > 0 {
			cp.Committed = PointerAt(offset - 1)
		}
		return cp, nil
	}
	corrupt := func(what string, err error) error {
		return fmt.Errorf("%w: kafka: checkpoint %s: commit metadata (%d bytes): %s: %v", checkpoint.ErrCorrupt, key, len(meta), what, err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(meta[len(metaPrefix):])
	if err != nil {
		return nil, corrupt("not base64url", err)
	}
	d := decoders.Get().(*decoder)
	defer decoders.Put(d)
	d.src.Reset(raw)
	if d.zr == nil {
		d.zr = flate.NewReader(&d.src)
	} else if err := d.zr.(flate.Resetter).Reset(&d.src, nil); err != nil {
		return nil, corrupt("not deflate data", err)
	}
	d.js.Reset()
	if _, err := d.js.ReadFrom(io.LimitReader(d.zr, maxDecoded+1)); err != nil {
		return nil, corrupt("not deflate data", err)
	}
	js := d.js.Bytes()
	if len(js) > maxDecoded {
		return nil, corrupt("inflated", fmt.Errorf("more than %d bytes", maxDecoded))
	}
	var doc commitDoc
	dec := json.NewDecoder(bytes.NewReader(js)) // decodes into new values: js is not kept
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, corrupt("JSON", err)
	}
	if doc.Version == 0 {
		return nil, corrupt("version", errors.New("0, expected at least 1"))
	}
	cp.Version, cp.Batch, cp.Finished, cp.Counts, cp.UpdatedAt = doc.Version, doc.Batch, doc.Done, doc.Counts, doc.Updated
	switch {
	case doc.Raw != nil:
		cp.Committed = doc.Raw
	case offset > 0:
		cp.Committed = PointerAt(offset - 1)
	}
	if err := validCheckpoint(cp); err != nil {
		return nil, corrupt("content", err)
	}
	return cp, nil
}

// validCheckpoint refuses what no store keeps: an unknown status, negative
// counts.
func validCheckpoint(cp *checkpoint.Checkpoint) error {
	b := cp.Batch
	if b == nil {
		return nil
	}
	if b.Size < 0 {
		return fmt.Errorf("checkpoint %s: batch size %d is negative", cp.Key, b.Size)
	}
	for i := range b.Records {
		r := &b.Records[i]
		if _, err := r.Status.MarshalText(); err != nil {
			return fmt.Errorf("checkpoint %s: batch record %d: %w", cp.Key, i, err)
		}
		if r.Attempts < 0 {
			return fmt.Errorf("checkpoint %s: batch record %d has negative attempts %d", cp.Key, i, r.Attempts)
		}
		if r.Interrupted < 0 {
			return fmt.Errorf("checkpoint %s: batch record %d has negative interrupted attempts %d (expected 0 or more)", cp.Key, i, r.Interrupted)
		}
	}
	return nil
}

// fetched is one partition's commit as OffsetFetch returns it.
type fetched struct {
	offset    int64
	meta      string
	committed bool
}

// fetchCall is one partition's offset fetch in an OffsetFetch request,
// and its outcome.
type fetchCall struct {
	p     int32
	got   fetched
	err   error
	alone bool // the request was of this partition alone
}

// fetchOne reads the commit of group for partition p of topic, in one
// request with the partitions of the group and topic asked for while a
// fetch of theirs is in flight (see coalescer). A request of several
// partitions that fails (an error of one partition fails it whole) is
// asked again alone, so that each reports only its own error.
func (st *Store) fetchOne(ctx context.Context, group, topic string, p int32) (fetched, error) {
	c := &fetchCall{p: p}
	st.s.commits.fetchQ.do(group+"\x00"+topic, c, func(cs []*fetchCall) {
		ps := make([]int32, len(cs))
		for i, c := range cs {
			ps[i] = c.p
		}
		// Not under the leader's context, as for commits.
		got, err := st.fetch(context.WithoutCancel(ctx), group, topic, ps)
		for _, c := range cs {
			c.got, c.err, c.alone = got[c.p], err, len(cs) == 1
		}
	})
	if c.err == nil || c.alone {
		return c.got, c.err
	}
	got, err := st.fetch(ctx, group, topic, []int32{p})
	return got[p], err
}

// fetch reads the commits of group for topic: of partitions ps, or of
// every partition when ps is nil.
func (st *Store) fetch(ctx context.Context, group, topic string, ps []int32) (map[int32]fetched, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	if ps != nil {
		t := kmsg.NewOffsetFetchRequestTopic()
		t.Topic = topic
		t.Partitions = ps
		req.Topics = append(req.Topics, t)
	} else {
		req.Topics = nil // every topic of the group
	}
	rctx, cancel := st.s.reqCtx(ctx)
	defer cancel()
	resp, err := req.RequestWith(rctx, st.s.cl)
	if err != nil {
		return nil, err
	}
	out := map[int32]fetched{}
	if err := kerr.ErrorForCode(resp.ErrorCode); errors.Is(err, kerr.GroupIDNotFound) {
		return out, nil // no group: nothing committed
	} else if err != nil {
		return nil, err
	}
	add := func(t string, part int32, off int64, meta *string, code int16) error {
		if t != topic {
			return nil
		}
		if err := kerr.ErrorForCode(code); err != nil {
			return fmt.Errorf("partition %d: %w", part, err)
		}
		f := fetched{offset: off}
		if meta != nil {
			f.meta = *meta
		}
		f.committed = off >= 0 || f.meta != ""
		out[part] = f
		return nil
	}
	for _, g := range resp.Groups { // v8+
		if err := kerr.ErrorForCode(g.ErrorCode); errors.Is(err, kerr.GroupIDNotFound) {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		for _, t := range g.Topics {
			for _, pp := range t.Partitions {
				if err := add(t.Topic, pp.Partition, pp.Offset, pp.Metadata, pp.ErrorCode); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, t := range resp.Topics {
		for _, pp := range t.Partitions {
			if err := add(t.Topic, pp.Partition, pp.Offset, pp.Metadata, pp.ErrorCode); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// Load returns the checkpoint of key from group key.Consumer's commit, or a
// new one of version 0 if none was committed.
func (st *Store) Load(ctx context.Context, key checkpoint.Key) (*checkpoint.Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kafka: load checkpoint %s: %w", key, err)
	}
	topic, p, err := coords(key)
	if err != nil {
		return nil, err
	}
	mu := st.lock(key)
	mu.Lock()
	defer mu.Unlock()
	member, gen := st.groupMember(key.Consumer) // before the fetch: what it reads holds in this generation
	f, err := st.fetchOne(ctx, key.Consumer, topic, p)
	if err != nil {
		st.s.commits.forget(key)
		return nil, fmt.Errorf("kafka: load checkpoint %s: offset fetch of group %q: %w", key, key.Consumer, classify(err))
	}
	cp, err := decode(key, f.offset, f.meta, f.committed)
	if err != nil {
		st.s.commits.forget(key)
		return nil, err
	}
	st.s.commits.remember(key, knownCommit{version: cp.Version, member: member, gen: gen})
	return cp, nil
}

// fenced reports the commit errors of a member the group fenced out.
func fenced(err error) bool {
	return errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.UnknownMemberID) ||
		errors.Is(err, kerr.FencedInstanceID) || errors.Is(err, kerr.StaleMemberEpoch)
}

// metadataTooLarge reports the commit errors of a broker that refuses the
// commit's size: the metadata over offset.metadata.max.bytes, or the
// commit record over what the offsets topic takes.
func metadataTooLarge(err error) bool {
	return errors.Is(err, kerr.OffsetMetadataTooLarge) || errors.Is(err, kerr.InvalidCommitOffsetSize) ||
		errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge)
}

// classify marks an error of a group request (OffsetFetch, OffsetCommit,
// Metadata) with its class for checkpoint.IsPermanent: a broker error
// that Kafka marks non-retriable (permanentCode: kerr's Retriable, except
// those of transientCodes), and a closed client are permanent; retriable broker
// errors, network errors and a done context stay transient. Fenced and
// too-large commits are told apart before (see Save).
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, kgo.ErrClientClosed) {
		return checkpoint.Permanent(err)
	}
	if ke, ok := errors.AsType[*kerr.Error](err); ok && permanentCode(ke) {
		return checkpoint.Permanent(err)
	}
	return err
}

// Save commits cp as group cp.Consumer's offset and metadata if the
// committed version equals cp.Version (see Store for the fencing).
func (st *Store) Save(ctx context.Context, cp *checkpoint.Checkpoint) error {
	if cp == nil {
		return checkpoint.Permanent(errors.New("kafka: save checkpoint: nil checkpoint (expected a checkpoint to save)"))
	}
	topic, p, err := coords(cp.Key)
	if err != nil {
		return err
	}
	if err := validCheckpoint(cp); err != nil {
		return checkpoint.Permanent(fmt.Errorf("kafka: save %w", err))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("kafka: save checkpoint %s: %w", cp.Key, err)
	}
	offset, meta, err := st.encode(cp, cp.Version+1)
	if err != nil {
		return err
	}
	mu := st.lock(cp.Key)
	mu.Lock()
	defer mu.Unlock()
	if err := st.check(ctx, cp, topic, p); err != nil {
		st.s.commits.forget(cp.Key)
		return err
	}
	member, gen, err := st.commit(ctx, cp.Consumer, topic, p, offset, meta)
	if err != nil {
		st.s.commits.forget(cp.Key)
		return commitFailed(cp.Key, len(meta), err)
	}
	st.s.commits.remember(cp.Key, knownCommit{version: cp.Version + 1, member: member, gen: gen})
	cp.Version++
	return nil
}

// check returns an error matching checkpoint.ErrConflict if the committed
// version of cp's key is not cp.Version. It fetches the commit unless the
// stream's member of the group committed or fetched that version in its
// current generation (see Store). The caller holds the key's lock.
func (st *Store) check(ctx context.Context, cp *checkpoint.Checkpoint, topic string, p int32) error {
	if k, ok := st.s.commits.lookup(cp.Key); ok && k.version == cp.Version {
		if member, gen := st.groupMember(cp.Consumer); gen >= 0 && member == k.member && gen == k.gen {
			return nil
		}
	}
	f, err := st.fetchOne(ctx, cp.Consumer, topic, p)
	if err != nil {
		return fmt.Errorf("kafka: save checkpoint %s: offset fetch of group %q: %w", cp.Key, cp.Consumer, classify(err))
	}
	stored, err := decode(cp.Key, f.offset, f.meta, f.committed)
	if err != nil {
		return fmt.Errorf("kafka: save checkpoint %s over its stored commit: %w", cp.Key, err)
	}
	if stored.Version != cp.Version {
		return fmt.Errorf("%w: %s: save expected stored version %d, but version %d is committed", checkpoint.ErrConflict, cp.Key, cp.Version, stored.Version)
	}
	return nil
}

// commitFailed returns Save's error for a failed commit of key's
// checkpoint with metaLen bytes of metadata: a fenced member's commit
// matches checkpoint.ErrConflict, one the broker refuses as too large
// ErrMetadataTooLarge, and any other is classified (see classify).
func commitFailed(key checkpoint.Key, metaLen int, err error) error {
	switch {
	case fenced(err):
		return fmt.Errorf("%w: %s: the group fenced this commit (the member is no longer in generation): %w", checkpoint.ErrConflict, key, err)
	case metadataTooLarge(err):
		return fmt.Errorf("%w: %s: the broker refused %d bytes of metadata: %w", ErrMetadataTooLarge, key, metaLen, err)
	}
	return fmt.Errorf("kafka: save checkpoint %s: offset commit to group %q: %w", key, key.Consumer, classify(err))
}

// commitCall is one partition's commit in an OffsetCommit request, and
// its outcome.
type commitCall struct {
	p      int32
	offset int64
	meta   string
	err    error // the partition's error in the response, or the request's
	// The member id and generation it was committed as ("", -1 for a
	// standalone client's).
	member string
	gen    int32
}

// commit sends one OffsetCommit as the stream's member of group, if it
// is one, or as a standalone client. Two answers are retried, for up to
// commitRetryFor: a rebalance in progress, and a stale generation while
// the member is still in the group (the group formed a new generation and
// the member's client has not stored it yet; with the cooperative-sticky
// balancer a partition only moves after its owner revoked it, so the
// member still owns it in the new generation). A member the group fenced
// out has its id and generation reset by franz-go; its commit is refused.
// It returns the member id and generation of the commit that succeeded
// ("", -1 for a standalone client's).
//
// The first attempt goes in one request with the commits of the group's
// other partitions of topic asked for while a commit of theirs is in
// flight (see coalescer): a consumer whose thousand partitions commit at
// about the same time sends a few OffsetCommit requests, not a thousand.
// Each partition's error in the response is its own; a retry goes alone.
func (st *Store) commit(ctx context.Context, group, topic string, p int32, offset int64, meta string) (string, int32, error) {
	deadline := time.Now().Add(commitRetryFor)
	for attempt := 1; ; attempt++ {
		c := &commitCall{p: p, offset: offset, meta: meta}
		if attempt == 1 {
			st.s.commits.commitQ.do(group+"\x00"+topic, c, func(cs []*commitCall) {
				// Not under the leader's context: its end must not fail
				// the others' commits (the request is bounded by the
				// request timeout).
				member, gen := st.sendCommit(context.WithoutCancel(ctx), group, topic, cs, false)
				for _, c := range cs {
					c.member, c.gen = member, gen
				}
			})
		} else {
			c.member, c.gen = st.sendCommit(ctx, group, topic, []*commitCall{c}, true)
		}
		usedMember, usedGen, err := c.member, c.gen, c.err
		if err == nil {
			return usedMember, usedGen, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return "", -1, err
		}
		m := st.s.memberOf(group)
		switch {
		case errors.Is(err, kerr.RebalanceInProgress), errors.Is(err, kerr.UnknownTopicID) && attempt == 1:
			if werr := sleep(ctx, 50*time.Millisecond); werr != nil {
				return "", -1, err
			}
		case fenced(err) && m != nil && usedGen >= 0:
			// Wait for the member's client to store the new generation,
			// or to be reset (fenced out): then the commit is refused.
			for {
				if werr := sleep(ctx, 20*time.Millisecond); werr != nil || time.Now().After(deadline) {
					return "", -1, err
				}
				mid, g := m.cl.GroupMetadata()
				if mid != usedMember || g < 0 {
					return "", -1, err
				}
				if g != usedGen {
					break
				}
			}
		default:
			return "", -1, err
		}
	}
}

// sendCommit sends one OffsetCommit of cs, partitions of topic, as the
// stream's member of group if it is one (else as a standalone client),
// and sets each call's error: its partition's in the response, or the
// whole request's. It returns the member id and generation it committed
// as ("", -1 for a standalone client's). refresh reads the topic's id
// anew.
func (st *Store) sendCommit(ctx context.Context, group, topic string, cs []*commitCall, refresh bool) (string, int32) {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group = group
	cl := st.s.cl
	usedMember, usedGen := "", int32(-1)
	if m := st.s.memberOf(group); m != nil {
		usedMember, usedGen = m.cl.GroupMetadata()
		req.MemberID, req.Generation = usedMember, usedGen
		cl = m.cl
	}
	fail := func(err error) (string, int32) {
		for _, c := range cs {
			c.err = err
		}
		return usedMember, usedGen
	}
	id, err := st.topicID(ctx, topic, refresh)
	if err != nil {
		return fail(err)
	}
	t := kmsg.NewOffsetCommitRequestTopic()
	t.Topic, t.TopicID = topic, id
	for _, c := range cs {
		pp := kmsg.NewOffsetCommitRequestTopicPartition()
		pp.Partition, pp.Offset, pp.Metadata = c.p, c.offset, &c.meta
		t.Partitions = append(t.Partitions, pp)
	}
	req.Topics = append(req.Topics, t)
	rctx, cancel := st.s.reqCtx(ctx)
	resp, err := req.RequestWith(rctx, cl)
	cancel()
	if err != nil {
		return fail(err)
	}
	// The request names one topic; newer versions answer by topic id
	// only, so every partition of the response is of that topic.
	errs := make(map[int32]error, len(cs))
	for _, rt := range resp.Topics {
		for _, pp := range rt.Partitions {
			errs[pp.Partition] = kerr.ErrorForCode(pp.ErrorCode)
		}
	}
	for _, c := range cs {
		e, ok := errs[c.p]
		if !ok {
			e = fmt.Errorf("partition %d of %s not in the commit response: %w", c.p, topic, kerr.UnknownTopicOrPartition)
		}
		c.err = e
	}
	return usedMember, usedGen
}

// commitRetryFor bounds the retries of one commit.
const commitRetryFor = 10 * time.Second

// topicID returns the id of topic from the metadata, cached unless
// refresh is set.
func (st *Store) topicID(ctx context.Context, topic string, refresh bool) ([16]byte, error) {
	st.idsMu.Lock()
	id, ok := st.ids[topic]
	st.idsMu.Unlock()
	if ok && !refresh {
		return id, nil
	}
	rctx, cancel := st.s.reqCtx(ctx)
	defer cancel()
	md, err := st.s.adm.Metadata(rctx, topic)
	if err != nil {
		return id, fmt.Errorf("metadata of topic %s: %w", topic, err)
	}
	td, ok := md.Topics[topic]
	if !ok {
		return id, fmt.Errorf("metadata of topic %s: not in the response: %w", topic, kerr.UnknownTopicOrPartition)
	}
	if td.Err != nil {
		return id, fmt.Errorf("metadata of topic %s: %w", topic, td.Err)
	}
	st.idsMu.Lock()
	if st.ids == nil {
		st.ids = map[string][16]byte{}
	}
	st.ids[topic] = td.ID
	st.idsMu.Unlock()
	return td.ID, nil
}

// List returns the checkpoints committed by group consumer for topic
// stream, sorted by partition id (byte-wise, as every store sorts). A
// stream that is not a valid topic name has none.
func (st *Store) List(ctx context.Context, consumer, stream string) ([]*checkpoint.Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kafka: list checkpoints %s/%s: %w", consumer, stream, err)
	}
	if consumer == "" || stream == "" || !utf8.ValidString(consumer) || !utf8.ValidString(stream) {
		return nil, checkpoint.Permanent(fmt.Errorf("kafka: list checkpoints %q/%q: consumer and stream must be non-empty valid UTF-8", consumer, stream))
	}
	if validateTopic(stream) != nil {
		return nil, nil
	}
	got, err := st.fetch(ctx, consumer, stream, nil)
	if err != nil {
		return nil, fmt.Errorf("kafka: list checkpoints %s/%s: offset fetch of group %q: %w", consumer, stream, consumer, classify(err))
	}
	var out []*checkpoint.Checkpoint
	for p, f := range got {
		if !f.committed {
			continue
		}
		cp, err := decode(checkpoint.Key{Consumer: consumer, Stream: stream, Partition: strconv.Itoa(int(p))}, f.offset, f.meta, true)
		if err != nil {
			return nil, err
		}
		out = append(out, cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out, nil
}
