package pulsarfake

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/unistream-go/unistream/adapters/pulsar/pulsarfake/internal/pb"
)

// journalFile is the name of the state file inside the data folder.
const journalFile = "pulsarfake.journal"

// maxRecord bounds one journal record (a message plus its JSON overhead).
const maxRecord = 1 << 30

// Journal record kinds.
const (
	opPartitioned = "partitioned"
	opTopic       = "topic"
	opEntry       = "entry"
	opCursor      = "cursor"
	opUnsub       = "unsub"
	opDelete      = "delete"
)

// record is one journal line: [len u32 big-endian][JSON].
type record struct {
	Op         string            `json:"op"`
	Topic      string            `json:"topic"`
	N          int               `json:"n,omitempty"`
	Ledger     uint64            `json:"ledger,omitempty"`
	ID         int64             `json:"id,omitempty"`
	Data       []byte            `json:"data,omitempty"`
	PT         uint64            `json:"pt,omitempty"`
	NumMsgs    int32             `json:"num,omitempty"`
	Batched    bool              `json:"batched,omitempty"`
	Key        string            `json:"key,omitempty"`
	Sub        string            `json:"sub,omitempty"`
	Type       int32             `json:"type,omitempty"`
	MarkDelete int64             `json:"md,omitempty"`
	Acked      []int64           `json:"acked,omitempty"`
	Batch      map[int64][]int64 `json:"batch,omitempty"`
}

func entryRecord(t *topic, e *entry) record {
	return record{Op: opEntry, Topic: t.name, ID: e.id, Data: e.data, PT: e.publishTime, NumMsgs: e.numMsgs, Batched: e.batched, Key: e.key}
}

// journal appends state changes to a file in the data folder. A nil
// *journal (no data folder) accepts and drops every write.
type journal struct {
	path string
	f    *os.File
	w    *bufio.Writer
}

// openJournal loads the journal in dir into b, rewrites it compacted and
// opens it for appending.
func openJournal(dir string, b *Broker) (*journal, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("pulsarfake: data folder %s: %w", dir, err)
	}
	path := filepath.Join(dir, journalFile)
	if err := loadJournal(path, b); err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pulsarfake: data folder: %w", err)
	}
	j := &journal{path: path, f: f, w: bufio.NewWriterSize(f, 1<<20)}
	if err := j.snapshot(b); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("pulsarfake: sync %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		f.Close()
		return nil, fmt.Errorf("pulsarfake: data folder: %w", err)
	}
	return j, nil
}

// snapshot writes the whole state of b.
func (j *journal) snapshot(b *Broker) error {
	names := make([]string, 0, len(b.partitioned))
	for n := range b.partitioned {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := j.write(record{Op: opPartitioned, Topic: n, N: b.partitioned[n]}); err != nil {
			return err
		}
	}
	tnames := make([]string, 0, len(b.topics))
	for n := range b.topics {
		tnames = append(tnames, n)
	}
	sort.Strings(tnames)
	for _, n := range tnames {
		t := b.topics[n]
		if err := j.write(record{Op: opTopic, Topic: n, Ledger: t.ledger}); err != nil {
			return err
		}
		for _, e := range t.entries {
			if err := j.write(entryRecord(t, e)); err != nil {
				return err
			}
		}
		for _, s := range t.subs {
			if !s.durable {
				continue
			}
			if err := j.write(s.cursorRecord()); err != nil {
				return err
			}
		}
	}
	return nil
}

// write appends r and hands it to the operating system.
func (j *journal) write(r record) error {
	if j == nil {
		return nil
	}
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("pulsarfake: journal: %w", err)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(body)))
	if _, err := j.w.Write(hdr[:]); err != nil {
		return fmt.Errorf("pulsarfake: journal %s: %w", j.path, err)
	}
	if _, err := j.w.Write(body); err != nil {
		return fmt.Errorf("pulsarfake: journal %s: %w", j.path, err)
	}
	if err := j.w.Flush(); err != nil {
		return fmt.Errorf("pulsarfake: journal %s: %w", j.path, err)
	}
	return nil
}

func (j *journal) close() error {
	if j == nil {
		return nil
	}
	err := j.w.Flush()
	if serr := j.f.Sync(); err == nil {
		err = serr
	}
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pulsarfake: close journal %s: %w", j.path, err)
	}
	return nil
}

// loadJournal replays path into b. A record cut short at the end of the
// file (a write interrupted by a crash, never acknowledged) is dropped
// with a warning; any other damage is an error naming the offset.
func loadJournal(path string, b *Broker) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pulsarfake: open %s: %w", path, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var off int64
	for {
		var hdr [4]byte
		n, err := io.ReadFull(r, hdr[:])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			b.log.Warn("pulsarfake: journal ends with a partial record header; dropped", "file", path, "offset", off, "bytes", n)
			return nil
		}
		size := binary.BigEndian.Uint32(hdr[:])
		if size == 0 || size > maxRecord {
			return fmt.Errorf("pulsarfake: %s at offset %d: record size %d, expected 1..%d", path, off, size, maxRecord)
		}
		body := make([]byte, size)
		if _, err := io.ReadFull(r, body); err != nil {
			b.log.Warn("pulsarfake: journal ends with a partial record; dropped", "file", path, "offset", off)
			return nil
		}
		var rec record
		if err := json.Unmarshal(body, &rec); err != nil {
			return fmt.Errorf("pulsarfake: %s at offset %d: %w", path, off, err)
		}
		if err := b.apply(rec); err != nil {
			return fmt.Errorf("pulsarfake: %s at offset %d: %w", path, off, err)
		}
		off += 4 + int64(size)
	}
}

// apply replays one record while loading.
func (b *Broker) apply(r record) error {
	switch r.Op {
	case opPartitioned:
		if r.N < 1 {
			return fmt.Errorf("partitioned topic %q with %d partitions", r.Topic, r.N)
		}
		b.partitioned[r.Topic] = r.N
	case opTopic:
		if r.Ledger == 0 {
			return fmt.Errorf("topic %q without a ledger id", r.Topic)
		}
		idx := int32(-1)
		if base, i := splitPartition(r.Topic); i >= 0 {
			if _, ok := b.partitioned[base]; ok {
				idx = int32(i)
			}
		}
		b.topics[r.Topic] = newTopic(r.Topic, idx, r.Ledger)
		if r.Ledger >= b.nextLedger {
			b.nextLedger = r.Ledger + 1
		}
	case opEntry:
		t, ok := b.topics[r.Topic]
		if !ok {
			return fmt.Errorf("entry for unknown topic %q", r.Topic)
		}
		if r.ID != int64(len(t.entries)) {
			return fmt.Errorf("entry %d of %q, expected %d", r.ID, r.Topic, len(t.entries))
		}
		if len(r.Data) == 0 || r.NumMsgs < 1 {
			return fmt.Errorf("entry %d of %q is empty", r.ID, r.Topic)
		}
		t.entries = append(t.entries, &entry{id: r.ID, data: r.Data, publishTime: r.PT, numMsgs: r.NumMsgs, batched: r.Batched, key: r.Key})
	case opCursor:
		t, ok := b.topics[r.Topic]
		if !ok {
			return fmt.Errorf("cursor for unknown topic %q", r.Topic)
		}
		if _, ok := pb.CommandSubscribe_SubType_name[r.Type]; !ok {
			return fmt.Errorf("cursor %q of %q: subscription type %d", r.Sub, r.Topic, r.Type)
		}
		s := newSubscription(b, t, r.Sub, pb.CommandSubscribe_SubType(r.Type), true, r.MarkDelete+1)
		for _, e := range r.Acked {
			s.acked[e] = struct{}{}
		}
		for e, bits := range r.Batch {
			s.batchAcks[e] = bits
		}
		t.subs[r.Sub] = s
	case opUnsub:
		if t, ok := b.topics[r.Topic]; ok {
			delete(t.subs, r.Sub)
		}
	case opDelete:
		b.deleteLocked(r.Topic)
	default:
		return fmt.Errorf("unknown record %q", r.Op)
	}
	return nil
}
