package wal_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/streamtest/enginebench"
	"github.com/unistream-go/unistream/stream/wal"
)

// BenchmarkAppend measures the log as the producer uses it with
// FsyncPerBatch: records of about 150 bytes appended one by one, a Sync
// every batch (of 500 or 10000 records), then the batch acknowledged.
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{500, 10000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchAppend(b, batch) })
	}
}

func benchAppend(b *testing.B, batch int) {
	l, _, err := wal.Open(filepath.Join(b.TempDir(), "b.wal"), wal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	r := driver.Record{ID: "0192f5a4-7b1c-7d2e-8f3a-4b5c6d7e8f90", Key: []byte("customer-42"), Value: make([]byte, 100)}
	seqs := make([]uint64, 0, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s, err := l.Append(&r)
		if err != nil {
			b.Fatal(err)
		}
		seqs = append(seqs, s)
		if len(seqs) == cap(seqs) {
			if err := l.Sync(); err != nil {
				b.Fatal(err)
			}
			if err := l.Ack(seqs...); err != nil {
				b.Fatal(err)
			}
			seqs = seqs[:0]
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkFsync measures this disk's fsync, the floor under what a
// producer with FsyncPerBatch pays per batch: 64 KiB (about the WAL bytes
// of a 500-record batch of 100-byte values) written to a file in
// b.TempDir() and fsynced (os.File.Sync, as Log.Sync does), b.N times. It
// reports µs/fsync, the time of the write and the fsync together, and
// cpu-µs/fsync, the CPU time the process was charged for them (user and
// system: on a virtual machine the kernel's share of an fsync is large,
// and it is paid from the same cores as the producer's own work; not
// reported where it cannot be read).
//
// mode=append appends, as the WAL does: the file is cut back to empty
// every 1024 appends (64 MiB), outside the timing, as the WAL is cut back
// or compacted once its records are acknowledged, so every write lands on
// pages and blocks the file did not have. mode=overwrite writes over the
// blocks of a 64 MiB file written and synced beforehand, in turn, as a
// log that reused its file would: what such a format could save.
func BenchmarkFsync(b *testing.B) {
	for _, overwrite := range []bool{false, true} {
		name := "mode=append"
		if overwrite {
			name = "mode=overwrite"
		}
		b.Run(name, func(b *testing.B) { benchFsync(b, overwrite) })
	}
}

func benchFsync(b *testing.B, overwrite bool) {
	const chunk, rewind = 64 << 10, 1024
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, chunk)
	for i := range buf {
		buf[i] = byte(i)
	}
	if overwrite {
		for i := range rewind {
			if _, err := f.WriteAt(buf, int64(i)*chunk); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	var cpu enginebench.CPUMeter // measured with the timer
	b.SetBytes(chunk)
	b.ResetTimer()
	stopCPU := cpu.Start()
	for i := range b.N {
		if !overwrite && i > 0 && i%rewind == 0 {
			b.StopTimer()
			stopCPU()
			if err := f.Truncate(0); err != nil {
				b.Fatal(err)
			}
			stopCPU = cpu.Start()
			b.StartTimer()
		}
		if _, err := f.WriteAt(buf, int64(i%rewind)*chunk); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	stopCPU()
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/fsync")
	if sum, ok := cpu.Sum(); ok {
		b.ReportMetric(float64(sum.Microseconds())/float64(b.N), "cpu-µs/fsync")
	}
}

// BenchmarkMarkAcked measures MarkAcked as a producer's send lanes call
// it: records appended to lanes in turn, each lane acknowledging batches
// of 500 of its records (ascending, lanes apart in the log), the lanes'
// batches interleaved. The time is that of the MarkAcked calls alone, per
// record acknowledged.
func BenchmarkMarkAcked(b *testing.B) {
	for _, lanes := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("lanes=%d", lanes), func(b *testing.B) { benchMarkAcked(b, lanes) })
	}
}

func benchMarkAcked(b *testing.B, lanes int) {
	l, _, err := wal.Open(filepath.Join(b.TempDir(), "b.wal"), wal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	r := driver.Record{ID: "0192f5a4-7b1c-7d2e-8f3a-4b5c6d7e8f90", Key: []byte("customer-42"), Value: make([]byte, 100)}
	const batch = 500
	seqs := make([][]uint64, lanes)
	b.ReportAllocs()
	b.ResetTimer()
	b.StopTimer()
	for i := range b.N {
		s, err := l.Append(&r)
		if err != nil {
			b.Fatal(err)
		}
		ln := i % lanes
		seqs[ln] = append(seqs[ln], s)
		if len(seqs[ln]) < batch {
			continue
		}
		b.StartTimer()
		need, err := l.MarkAcked(seqs[ln]...)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		seqs[ln] = seqs[ln][:0]
		if err := l.Flush(); err != nil {
			b.Fatal(err)
		}
		if need {
			if err := l.Maintain(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
