package stream

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/unistream-go/unistream/stream/driver"
)

// prodNullStream accepts every record and keeps none.
type prodNullStream struct{ prodFakeStream }

func (s *prodNullStream) OpenWriter(context.Context) (driver.Writer, error) {
	return prodNullWriter{}, nil
}

type prodNullWriter struct{}

func (prodNullWriter) Write(_ context.Context, recs []driver.Record, results []driver.WriteResult) error {
	for i := range results {
		results[i] = driver.WriteResult{Partition: "0"}
	}
	return nil
}

func (prodNullWriter) Close() error { return nil }

func benchRecord() Record {
	return Record{Key: []byte("customer-42"), Value: make([]byte, 100), Headers: []Header{{Key: "type", Value: []byte("order")}}}
}

func benchProducer(b *testing.B, opts ...ProducerOption) *Producer {
	s := &prodNullStream{prodFakeStream: *newProdFakeStream(1)}
	p, err := NewProducer(NewStream(s), opts...)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkProducer measures Put throughput, one goroutine, through to the
// acknowledgement of the last record (Flush), on a writer that accepts
// everything: the producer's own cost, WAL included.
func BenchmarkProducer(b *testing.B) {
	cases := []struct {
		name string
		opts func(dir string) []ProducerOption
	}{
		{"FsyncPerBatch", func(dir string) []ProducerOption {
			return []ProducerOption{WithWAL(filepath.Join(dir, "p.wal")), WithFsync(FsyncPerBatch)}
		}},
		{"FsyncAlways", func(dir string) []ProducerOption {
			return []ProducerOption{WithWAL(filepath.Join(dir, "p.wal")), WithFsync(FsyncAlways)}
		}},
		{"NoWAL", func(string) []ProducerOption { return []ProducerOption{WithoutWAL()} }},
		// With an observer that does nothing: the engine's own cost of its
		// events (the Writes timed, the WAL fsyncs reported).
		{"FsyncPerBatchObserved", func(dir string) []ProducerOption {
			return []ProducerOption{WithWAL(filepath.Join(dir, "p.wal")), WithFsync(FsyncPerBatch), WithObserver(ObserverFunc(func(Event) {}))}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			p := benchProducer(b, c.opts(b.TempDir())...)
			ctx := context.Background()
			rec := benchRecord()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := p.Put(ctx, rec); err != nil {
					b.Fatal(err)
				}
			}
			if err := p.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			if err := p.Close(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkProducerParallel measures Put from many goroutines; with
// FsyncAlways, concurrent Puts share fsyncs (group commit).
func BenchmarkProducerParallel(b *testing.B) {
	for _, c := range []struct {
		name   string
		policy FsyncPolicy
	}{{"FsyncPerBatch", FsyncPerBatch}, {"FsyncAlways", FsyncAlways}} {
		b.Run(c.name, func(b *testing.B) {
			p := benchProducer(b, WithWAL(filepath.Join(b.TempDir(), "p.wal")), WithFsync(c.policy))
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				rec := benchRecord()
				for pb.Next() {
					if err := p.Put(ctx, rec); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if err := p.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			if err := p.Close(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}
