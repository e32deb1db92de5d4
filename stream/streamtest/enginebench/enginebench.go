// Package enginebench holds what the engine benchmarks of package stream
// and of the adapters share: a checkpoint store that counts its calls, the
// stores a benchmark runs the engine with, a run of the consumer engine
// over n records with a no-op handler, the comparison of the engine with
// a plain client over the same records in alternating rounds, and for the
// producer the plain client with a log of its own (PlainWithLog), what
// durability costs without the engine.
//
// It is test support: only _test.go files import it, so nothing the
// library or the CLI ships depends on it (it imports package testing).
//
//	func BenchmarkConsumer(b *testing.B) {
//		for _, st := range []enginebench.Store{enginebench.Memory, enginebench.File} {
//			b.Run("store="+st.Name, func(b *testing.B) {
//				// fill one stream per round with the records of enginebench.Span(b.N, r)
//				enginebench.Comparison{Plain: plainRead, Open: openRound}.Run(b, st)
//			})
//		}
//	}
package enginebench

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/memstream"
)

// CountingStore is a checkpoint.Store that counts the Load and Save calls
// it passes on to the store it wraps, failed ones included. It has only
// the methods of checkpoint.Store: the wrapped store's leases
// (checkpoint.Leaser) are not reachable through it.
type CountingStore struct {
	checkpoint.Store
	loads, saves atomic.Int64
}

// Count wraps s.
func Count(s checkpoint.Store) *CountingStore { return &CountingStore{Store: s} }

// Load counts the call and loads from the wrapped store.
func (c *CountingStore) Load(ctx context.Context, key checkpoint.Key) (*checkpoint.Checkpoint, error) {
	c.loads.Add(1)
	return c.Store.Load(ctx, key)
}

// Save counts the call and saves to the wrapped store.
func (c *CountingStore) Save(ctx context.Context, cp *checkpoint.Checkpoint) error {
	c.saves.Add(1)
	return c.Store.Save(ctx, cp)
}

// Loads returns the number of Load calls so far.
func (c *CountingStore) Loads() int64 { return c.loads.Load() }

// Saves returns the number of Save calls so far.
func (c *CountingStore) Saves() int64 { return c.saves.Load() }

// Store is a checkpoint store a benchmark runs the engine with; its
// sub-benchmark is "store=" + Name.
type Store struct {
	Name string
	// New returns a new, empty store for the engine that reads s (a store
	// kept in the backend, such as the Kafka store, is made from s). It
	// releases the store with b.Cleanup. The time it takes is not counted.
	New func(b *testing.B, s driver.Stream) checkpoint.Store
}

// The stores of package checkpoint.
var (
	// Memory is checkpoint.NewMemoryStore.
	Memory = Store{Name: "memory", New: func(*testing.B, driver.Stream) checkpoint.Store { return checkpoint.NewMemoryStore() }}
	// File is checkpoint.NewFileStore in a new b.TempDir().
	File = Store{Name: "file", New: func(b *testing.B, _ driver.Stream) checkpoint.Store {
		s, err := checkpoint.NewFileStore(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		return s
	}}
)

// BatchSize is the consumer batch Consume runs the engine with unless its
// options say otherwise.
const BatchSize = 1000

// Consume runs a new consumer engine on s with store and a no-op handler
// (batch BatchSize, poll interval 1 ms, Halt when a record is exhausted,
// then opts, which may override these) until the handler has seen n
// records, then stops it and closes it. It returns the instant the handler
// saw the nth record. The commit cadence is the engine's default.
func Consume(b *testing.B, s driver.Stream, store checkpoint.Store, n int, opts ...stream.ConsumerOption) time.Time {
	return ConsumeThen(b, s, store, n, nil, opts...)
}

// ConsumeThen is Consume that calls atEnd, if not nil, from the handler
// of the nth record, after taking the instant and while the engine still
// runs (to sample what the running engine holds: connections, memory).
func ConsumeThen(b *testing.B, s driver.Stream, store checkpoint.Store, n int, atEnd func(), opts ...stream.ConsumerOption) time.Time {
	var count atomic.Int64
	done := make(chan time.Time, 1)
	h := func(context.Context, *stream.Record) error {
		if count.Add(1) == int64(n) {
			end := time.Now()
			if atEnd != nil {
				atEnd()
			}
			done <- end
		}
		return nil
	}
	opts = append([]stream.ConsumerOption{stream.WithCheckpointStore(store), stream.WithOnExhausted(stream.Halt),
		stream.WithBatchSize(BatchSize), stream.WithPollInterval(time.Millisecond)}, opts...)
	cons, err := stream.NewConsumer(stream.NewStream(s), h, opts...)
	if err != nil {
		b.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- cons.Run(ctx) }()
	var end time.Time
	select {
	case end = <-done:
	case err := <-errc:
		stop()
		b.Fatalf("the consumer stopped after %d of %d records: %v", count.Load(), n, err)
	}
	stop()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	cons.Close()
	return end
}

// Rounds is the number of rounds (and streams) Comparison.Run splits the
// records over: more rounds interleave the sides more finely.
const Rounds = 8

// Span returns the records [lo, hi) of round r when n records are split
// over Rounds rounds.
func Span(n, r int) (lo, hi int) { return r * n / Rounds, (r + 1) * n / Rounds }

// Comparison compares the consumer engine with a plain client that reads
// the same records. The records are split over Rounds streams (topics),
// one per round, which the benchmark fills beforehand with the records
// of Span(b.N, r). In each round both sides read the round's stream from
// the start, plain with its client, the engine with a new stream, store
// and consumer (Consume), alternating which goes first, so that on a
// shared machine whose load drifts both sides see about the same load.
type Comparison struct {
	// Plain reads the n records of round r's stream with the plain client
	// and returns the time it took.
	Plain func(b *testing.B, r, n int) time.Duration
	// Open opens the stream of round r for the engine. Its time is counted,
	// so count the plain client's set-up in Plain where it has one per
	// round.
	Open func(r int) (driver.Stream, error)
	// Options are passed to Consume.
	Options []stream.ConsumerOption
}

// Run runs the comparison over b.N records with the engine on store,
// resetting the timer first, and reports plain-records/s,
// engine-records/s, engine/plain (Report) and the store's saves/record.
// The labels side=plain and side=engine separate the two in a CPU profile
// (-cpuprofile; go tool pprof -tagfocus side=engine); the broker's
// goroutines are not labelled.
func (c Comparison) Run(b *testing.B, store Store) {
	ctx := context.Background()
	n := b.N
	var plain, engine time.Duration
	var saves int64
	b.ReportAllocs()
	b.ResetTimer()
	for r := range Rounds {
		lo, hi := Span(n, r)
		if hi == lo {
			continue // b.N below Rounds
		}
		runPlain := func() {
			pprof.Do(ctx, pprof.Labels("side", "plain"), func(context.Context) { plain += c.Plain(b, r, hi-lo) })
		}
		runEngine := func() {
			pprof.Do(ctx, pprof.Labels("side", "engine"), func(context.Context) {
				t0 := time.Now()
				s, err := c.Open(r)
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				st := Count(store.New(b, s))
				made := time.Since(t1)
				end := Consume(b, s, st, hi-lo, c.Options...)
				engine += end.Sub(t0) - made
				saves += st.Saves()
				s.Close()
			})
		}
		Alternate(r, runPlain, runEngine)
	}
	b.StopTimer()
	Report(b, n, plain, engine)
	b.ReportMetric(float64(saves)/float64(n), "saves/record")
}

// Alternate runs plain then engine in an even round r, engine then plain
// in an odd one: a benchmark that alternates the sides in rounds shares
// the machine's drifting load between them.
func Alternate(r int, plain, engine func()) {
	if r%2 == 0 {
		plain()
		engine()
	} else {
		engine()
		plain()
	}
}

// Rotate runs the sides in round r starting with side r modulo their
// number, then the ones after it, wrapping around: over rounds, each side
// runs first, second and so on equally often (Alternate for more than
// two sides).
func Rotate(r int, sides ...func()) {
	for i := range sides {
		sides[(r+i)%len(sides)]()
	}
}

// Report reports n records' plain-records/s and engine-records/s from the
// time each side took, and their ratio engine/plain (above 1: the engine
// is faster).
func Report(b *testing.B, n int, plain, engine time.Duration) {
	b.ReportMetric(float64(n)/plain.Seconds(), "plain-records/s")
	b.ReportMetric(float64(n)/engine.Seconds(), "engine-records/s")
	b.ReportMetric(plain.Seconds()/engine.Seconds(), "engine/plain")
}

// OpenURL opens rawURL with stream.Open and returns its driver stream,
// for Comparison.Open.
func OpenURL(ctx context.Context, rawURL string) (driver.Stream, error) {
	s, err := stream.Open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	return s.Driver(), nil
}

// ProducerVariant is one engine configuration of a producer benchmark.
type ProducerVariant struct {
	// Name names the sub-benchmark ("batch=500", "batch=10000/nowal").
	Name string
	// NoWAL runs the engine without its WAL; otherwise it has one in
	// b.TempDir() with FsyncPerBatch.
	NoWAL bool
	// Batch is the engine's batch size in records (stream.WithMaxRecords
	// in Options; 0 means stream.DefaultMaxRecords): the fsync cadence
	// of the plain+log side (ProducerComparison.Run).
	Batch int
	// Options are the engine's other options.
	Options []stream.ProducerOption
}

// ProducerVariants returns the variants every producer benchmark runs: the
// engine's default batch (500 records, 1 MiB) and, with big, batches of
// 10000 records and 16 MiB, which pay one WAL sync and one acknowledged
// Write per 10000 records; each with the WAL (fsync per batch) and without
// it (/nowal), to separate the WAL's cost from the cost of the sends.
func ProducerVariants(big bool) []ProducerVariant {
	vs := []ProducerVariant{{Name: "batch=500"}}
	large := []stream.ProducerOption{stream.WithMaxRecords(10000), stream.WithMaxBytes(16 << 20)}
	if big {
		vs = append(vs, ProducerVariant{Name: "batch=10000", Batch: 10000, Options: large})
	}
	vs = append(vs, ProducerVariant{Name: "batch=500/nowal", NoWAL: true})
	if big {
		vs = append(vs, ProducerVariant{Name: "batch=10000/nowal", NoWAL: true, Batch: 10000, Options: large})
	}
	return vs
}

// PlainSide is a plain side of a producer comparison
// (ProducerComparison.OpenPlain).
type PlainSide struct {
	// Name is the side's name ("plain", "plainlog" or "plainid"), and
	// the name of the stream or topic it writes to.
	Name string
	// WithID makes the client send each record i with the ID
	// AppendID(nil, i) where the engine's writer puts a record's ID, made
	// as it sends, as the engine makes its own.
	WithID bool
}

// PlainStreams returns the names of the streams or topics the plain
// sides of a producer comparison write to, one each, which a benchmark
// creates beside the engine's.
func PlainStreams() []string { return []string{"plain", "plainlog", "plainid"} }

// ProducerComparison compares the producer engine with a plain client
// producing the same records, in one run.
type ProducerComparison struct {
	// Keys and Values are the b.N records, made before the timer starts.
	Keys, Values [][]byte
	// OpenPlain opens a plain client for a plain side; Run opens one per
	// plain side (plain, plain+log with the WAL, plain+id with
	// PlainWithID), before the timer starts, as it opens the engine's
	// producer. The client writes to the stream or topic named side.Name,
	// which holds that side's records only (create every one of
	// PlainStreams), as the engine's holds the engine's. It returns the
	// function that produces records [lo, hi) with the client, waits for
	// every acknowledgement and returns the time it took, and the
	// function that closes the client.
	OpenPlain func(b *testing.B, side PlainSide) (produce func(lo, hi int) time.Duration, closeClient func())
	// PlainWithID runs the plain+id side: a plain client that sends each
	// record with an ID where the engine's writer puts a record's ID (the
	// unistream-id header or property; OpenPlain with side.WithID). The
	// engine sends an ID with every record, which plain does not;
	// engine/plainid is the engine's cost apart from what carrying the ID
	// costs the client.
	PlainWithID bool
	// URL is the engine's stream.
	URL string
}

// Run runs variant v over the records, split over Rounds rounds in which
// the sides alternate which goes first (Alternate). Each side is opened
// once, before the timer starts, and produces every round's records: the
// engine is one producer (stream.OpenProducer on c.URL, with its WAL in
// b.TempDir()) that Puts the round's records and Flushes, the plain side
// one client (c.OpenPlain). Both are measured producing, as a service
// runs them, not starting: a producer opened for every round paid its
// start-up (connections, the writers' request buffers, the WAL's tables
// growing to the backlog) on a round's worth of records, which a
// long-lived producer pays once. It reports plain-records/s,
// engine-records/s, engine/plain (Report), the engine's batch count and,
// with the WAL, its fsyncs (engine-fsyncs; plain+log makes one per
// batch), and the process's CPU time per record while each side ran
// (plain-cpu-ns/record, engine-cpu-ns/record and, with the WAL,
// plainlog-cpu-ns/record; see CPUMeter).
//
// With the WAL, each round also runs a third side, plain+log: a second
// plain client, while a goroutine writes the same records to a file in
// b.TempDir() as checksummed frames (about the WAL's bytes) and fsyncs
// it after every batch of v.Batch records, until both are done
// (PlainWithLog). It is what the durability alone costs on this machine
// (the disk, and the CPU the kernel spends on writes and fsyncs), with
// nothing of the engine: engine/plainlog says how far the engine is from
// that bound, where engine/plain mixes the engine's cost with the disk's.
// The sides take turns going first (Rotate), and each starts after
// a garbage collection (settle), so that it pays for the collections its
// own allocations make due, not for the previous side's.
//
// With c.PlainWithID, each round also runs a plain+id side: a plain
// client that sends each record with an ID where the engine's writer puts
// it, as a user of the plain client who wants the engine's de-duplication
// would. engine/plainid says what the engine costs beside what carrying
// the ID costs the client (plainid-records/s, engine/plainid,
// plainid-cpu-ns/record).
//
// The labels side=plain, side=plainlog, side=plainid and side=engine
// separate the sides in a CPU profile (each side's goroutines are started
// under its label), and wal=true or wal=false the engine's variants.
func (c ProducerComparison) Run(b *testing.B, v ProducerVariant) {
	ctx := context.Background()
	n := len(c.Keys)
	opts := append([]stream.ProducerOption{stream.WithoutWAL()}, v.Options...)
	if !v.NoWAL {
		opts = append([]stream.ProducerOption{stream.WithFsync(stream.FsyncPerBatch), stream.WithWAL(filepath.Join(b.TempDir(), "engine.wal"))}, v.Options...)
	}
	batch := v.Batch
	if batch == 0 {
		batch = stream.DefaultMaxRecords
	}
	var closers []func()
	defer func() {
		for _, f := range closers {
			f()
		}
	}()
	// The sides: each one's time, CPU and profile label, and how it
	// produces records [lo, hi).
	type side struct {
		name    string
		labels  pprof.LabelSet
		produce func(lo, hi int) time.Duration
		total   time.Duration
		cpu     CPUMeter
	}
	openPlain := func(ps PlainSide) *side {
		sd := &side{name: ps.Name, labels: pprof.Labels("side", ps.Name)}
		pprof.Do(ctx, sd.labels, func(context.Context) {
			var closeClient func()
			sd.produce, closeClient = c.OpenPlain(b, ps)
			closers = append(closers, closeClient)
		})
		return sd
	}
	plain := openPlain(PlainSide{Name: "plain"})
	var plainID, plainLog *side
	if c.PlainWithID {
		plainID = openPlain(PlainSide{Name: "plainid", WithID: true})
	}
	if !v.NoWAL {
		plainLog = openPlain(PlainSide{Name: "plainlog"})
		// The plain client while the same records are written and synced.
		client := plainLog.produce
		plainLog.produce = func(lo, hi int) time.Duration {
			return PlainWithLog(b, c.Keys[lo:hi], c.Values[lo:hi], batch, func() time.Duration { return client(lo, hi) })
		}
	}
	engine := &side{name: "engine", labels: pprof.Labels("side", "engine", "wal", strconv.FormatBool(!v.NoWAL))}
	var p *stream.Producer
	pprof.Do(ctx, engine.labels, func(context.Context) {
		var err error
		if p, err = stream.OpenProducer(ctx, c.URL, opts...); err != nil {
			b.Fatal(err)
		}
	})
	closers = append(closers, func() { p.Close(ctx) }) // a second Close returns the first's result
	engine.produce = func(lo, hi int) time.Duration { return produce(b, p, c.Keys[lo:hi], c.Values[lo:hi]) }

	sides := []*side{plain, engine}
	for _, sd := range []*side{plainID, plainLog} {
		if sd != nil {
			sides = append(sides, sd)
		}
	}
	b.ResetTimer()
	for r := range Rounds {
		lo, hi := Span(n, r)
		if hi == lo {
			continue // b.N below Rounds
		}
		runs := make([]func(), len(sides))
		for i, sd := range sides {
			runs[i] = func() {
				settle()
				defer sd.cpu.Start()()
				pprof.Do(ctx, sd.labels, func(context.Context) { sd.total += sd.produce(lo, hi) })
			}
		}
		Rotate(r, runs...)
	}
	b.StopTimer()
	st := p.Stats()
	if err := p.Close(ctx); err != nil {
		b.Fatal(err)
	}
	if st.Sent != uint64(n) {
		b.Fatalf("the engine sent %d records of %d", st.Sent, n)
	}
	b.ReportMetric(float64(st.Batches), "engine-batches")
	if !v.NoWAL {
		b.ReportMetric(float64(st.WALSyncs), "engine-fsyncs")
	}
	Report(b, n, plain.total, engine.total)
	plain.cpu.report(b, n, plain.name)
	engine.cpu.report(b, n, engine.name)
	for _, sd := range sides[2:] { // plain+id, plain+log
		b.ReportMetric(float64(n)/sd.total.Seconds(), sd.name+"-records/s")
		b.ReportMetric(sd.total.Seconds()/engine.total.Seconds(), "engine/"+sd.name)
		sd.cpu.report(b, n, sd.name)
	}
}

// AppendID appends the ID of record i to dst: 36 bytes in the text form
// of a UUIDv7 (RFC 9562), as the IDs the engine makes, for a plain side
// that sends IDs as the engine does (ProducerComparison.PlainWithID): a
// fixed timestamp and version, then i in 12 hex digits. It costs about
// what the engine's own IDs cost to make.
func AppendID(dst []byte, i int) []byte {
	dst = append(dst, idPrefix...)
	var h [12]byte
	for k := len(h) - 1; k >= 0; k-- {
		h[k] = "0123456789abcdef"[i&0xf]
		i >>= 4
	}
	return append(dst, h[:]...)
}

// idPrefix is what AppendID's IDs share: a timestamp of 2026, version 7,
// the RFC 9562 variant.
const idPrefix = "019af2c0-5c00-7000-8000-"

// settle runs a garbage collection before a side of a comparison starts,
// untimed, so that the side does not pay for the collection the previous
// side's allocations made due (the engine copies every record; the plain
// clients allocate per record too).
func settle() { runtime.GC() }

// CPUMeter sums the process's CPU time (user and system: the kernel's
// work for the process's writes and fsyncs included) over the runs
// measured with Start. In a producer comparison each side has one, over
// its runs: the side's own goroutines, and everything else the process
// does meanwhile (the broker fake's work for it, the garbage collector).
// On a saturated machine it says more than the side's records/s, which
// swing with the machine's other load: a side that needs less CPU per
// record is faster once the CPU is the bound.
type CPUMeter struct {
	sum, machine    time.Duration
	runs            int
	failed, mfailed bool
}

// Start starts measuring a run and returns the function that ends it.
func (m *CPUMeter) Start() (stop func()) {
	t0, ok := processCPU()
	w0, wok := machineCPU()
	return func() {
		t1, ok1 := processCPU()
		w1, wok1 := machineCPU()
		m.runs++
		m.failed = m.failed || !ok || !ok1
		m.mfailed = m.mfailed || !wok || !wok1
		m.sum += t1 - t0
		m.machine += w1 - w0
	}
}

// Sum returns the CPU time of the runs measured, and whether the
// process's CPU time could be read for every one of them (and there was
// one).
func (m *CPUMeter) Sum() (time.Duration, bool) { return m.sum, m.runs > 0 && !m.failed }

// MachineSum returns the CPU time the whole machine was busy over the
// runs measured (Linux: from /proc/stat, in steps of 10 ms), and whether
// it could be read for every one of them. Beside the process's own CPU
// time it holds the kernel threads' work the process caused (the
// writeback of the files it wrote, the file system journal's commits),
// which the process's time does not count, and whatever else ran on the
// machine meanwhile.
func (m *CPUMeter) MachineSum() (time.Duration, bool) {
	return m.machine, m.runs > 0 && !m.mfailed
}

// report reports the process's CPU time per record of n records as
// side-cpu-ns/record and the machine's as side-machine-cpu-ns/record,
// where they can be read.
func (m *CPUMeter) report(b *testing.B, n int, side string) {
	if n <= 0 {
		return
	}
	if sum, ok := m.Sum(); ok {
		b.ReportMetric(float64(sum.Nanoseconds())/float64(n), side+"-cpu-ns/record")
	}
	if sum, ok := m.MachineSum(); ok {
		b.ReportMetric(float64(sum.Nanoseconds())/float64(n), side+"-machine-cpu-ns/record")
	}
}

// PlainWithLog runs plain (a plain client producing keys and values) while
// a goroutine writes the same records to a new file in b.TempDir(), one
// frame each ([length][CRC-32C][sequence number][a 36-byte id][key]
// [value], about what the WAL writes), and fsyncs the file after every
// batch records. It returns the time until both are done: the cost of
// sending the records and of making them durable side by side, on this
// machine, without any engine.
func PlainWithLog(b *testing.B, keys, values [][]byte, batch int, plain func() time.Duration) time.Duration {
	f, err := os.Create(filepath.Join(b.TempDir(), "plain.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	t0 := time.Now()
	logged := make(chan error, 1)
	go func() { logged <- writeLog(f, keys, values, batch) }()
	d := plain()
	if err := <-logged; err != nil {
		b.Fatal(err)
	}
	return max(d, time.Since(t0))
}

// writeLog writes the records to f as PlainWithLog says.
func writeLog(f *os.File, keys, values [][]byte, batch int) error {
	crc := crc32.MakeTable(crc32.Castagnoli)
	id := make([]byte, 36)
	var buf []byte
	for lo := 0; lo < len(keys); lo += batch {
		buf = buf[:0]
		for i := lo; i < min(lo+batch, len(keys)); i++ {
			start := len(buf)
			buf = binary.LittleEndian.AppendUint32(buf, 0)
			buf = binary.LittleEndian.AppendUint32(buf, 0)
			buf = binary.LittleEndian.AppendUint64(buf, uint64(i))
			buf = append(buf, id...)
			buf = append(buf, keys[i]...)
			buf = append(buf, values[i]...)
			binary.LittleEndian.PutUint32(buf[start:], uint32(len(buf)-start-8))
			binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+8:], crc))
		}
		if _, err := f.Write(buf); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
	}
	return nil
}

// produce Puts the records on p and Flushes, and returns the time it took.
func produce(b *testing.B, p *stream.Producer, keys, values [][]byte) time.Duration {
	ctx := context.Background()
	t0 := time.Now()
	for i := range keys {
		if err := p.Put(ctx, stream.Record{Key: keys[i], Value: values[i]}); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	return time.Since(t0)
}

// MemStream returns a new memstream stream of one partition holding n
// records (ID "x", the key one of 64 bytes, the value "payload"), written
// in chunks of 500: the stream of the engine benchmarks on memstream.
func MemStream(b testing.TB, n int) *memstream.Stream {
	b.Helper()
	s, err := memstream.NewBroker().Stream("bench", memstream.WithPartitions(1))
	if err != nil {
		b.Fatal(err)
	}
	w, err := s.OpenWriter(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	const chunk = 500
	recs := make([]driver.Record, chunk)
	res := make([]driver.WriteResult, chunk)
	for i := 0; i < n; i += chunk {
		m := min(chunk, n-i)
		for j := range m {
			recs[j] = driver.Record{ID: "x", Key: []byte{byte(j % 64)}, Value: []byte("payload")}
		}
		if err := w.Write(context.Background(), recs[:m], res[:m]); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	return s
}
