package wal_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/unistream-go/unistream/stream/driver"
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
