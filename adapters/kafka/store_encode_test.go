package kafka

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// failedBatch returns a checkpoint whose batch holds n failed records, each
// with its state and a handler error.
func failedBatch(n int) *checkpoint.Checkpoint {
	now := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	cp := &checkpoint.Checkpoint{Key: checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}, Committed: PointerAt(41),
		Batch:  &checkpoint.Batch{Seq: 7, First: PointerAt(42), Last: PointerAt(541), Size: 500},
		Counts: checkpoint.Counts{Succeeded: 123456}, UpdatedAt: now}
	for i := range n {
		r := checkpoint.RecordState{Pointer: PointerAt(int64(42 + 3*i)), ID: fmt.Sprintf("order-%d", 9000+i),
			Status: checkpoint.Failed, Attempts: 2, FirstAttempt: now, NextRetry: now.Add(time.Minute)}
		r.AddError(2, now, fmt.Sprintf("payment service: 503 for order %d", 9000+i))
		cp.Batch.Records = append(cp.Batch.Records, r)
	}
	return cp
}

// bestSize returns the length of meta's metadata when its JSON is deflated
// at BestCompression.
func bestSize(t *testing.T, meta string) int {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(meta, metaPrefix))
	if err != nil {
		t.Fatal(err)
	}
	js, err := io.ReadAll(flate.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw, _ := flate.NewWriter(&z, flate.BestCompression)
	zw.Write(js)
	zw.Close()
	return len(metaPrefix) + base64.RawURLEncoding.EncodedLen(z.Len())
}

// TestEncodeFallsBackToBestCompression: metadata deflated at BestSpeed is
// a little larger than at BestCompression; a checkpoint that fits the
// limit only at BestCompression is still saved, and one that does not fit
// at BestCompression either is refused.
func TestEncodeFallsBackToBestCompression(t *testing.T) {
	cp := failedBatch(80)
	_, fast, err := (&Store{maxMeta: 1 << 20}).encode(cp, 1)
	if err != nil {
		t.Fatal(err)
	}
	best := bestSize(t, fast)
	if best >= len(fast) {
		t.Fatalf("BestCompression gives %d bytes, BestSpeed %d: the test needs a checkpoint that BestCompression makes smaller", best, len(fast))
	}
	t.Logf("%d failed records: %d bytes of metadata at BestSpeed, %d at BestCompression", len(cp.Batch.Records), len(fast), best)
	_, meta, err := (&Store{maxMeta: best}).encode(cp, 1)
	if err != nil {
		t.Fatalf("encode with the limit at the BestCompression size %d: %v", best, err)
	}
	if len(meta) != best {
		t.Errorf("encode with the limit %d gave %d bytes, want the BestCompression size", best, len(meta))
	}
	back, err := decode(cp.Key, 42, meta, true)
	if err != nil || back.Version != 1 || len(back.Batch.Records) != 80 {
		t.Fatalf("decode of the BestCompression metadata = %+v, %v", back, err)
	}
	_, _, err = (&Store{maxMeta: best - 1}).encode(cp, 1)
	if !errors.Is(err, ErrMetadataTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("is %d bytes, the limit is %d", best, best-1)) {
		t.Fatalf("encode with the limit one below the BestCompression size: err = %v, want ErrMetadataTooLarge naming both sizes", err)
	}
}

// TestEncodeDecodeConcurrently encodes and decodes checkpoints of
// different sizes from several goroutines: the pooled encoders and
// decoders never mix one checkpoint's bytes into another's.
func TestEncodeDecodeConcurrently(t *testing.T) {
	st := &Store{maxMeta: 1 << 20}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				n := (g*7 + i) % 50
				cp := failedBatch(n)
				cp.Counts.Retries = uint64(g*1000 + i)
				off, meta, err := st.encode(cp, uint64(i+1))
				if err != nil {
					t.Error(err)
					return
				}
				back, err := decode(cp.Key, off, meta, true)
				if err != nil {
					t.Error(err)
					return
				}
				if back.Version != uint64(i+1) || back.Counts != cp.Counts || len(back.Batch.Records) != n ||
					(n > 0 && back.Batch.Records[n-1].ID != cp.Batch.Records[n-1].ID) {
					t.Errorf("goroutine %d, checkpoint %d: decoded version %d counts %+v with %d records, want version %d counts %+v with %d",
						g, i, back.Version, back.Counts, len(back.Batch.Records), i+1, cp.Counts, n)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkEncode measures encode alone (JSON, deflate, base64) of a batch
// commit's checkpoint and of batches with failed records.
func BenchmarkEncode(b *testing.B) {
	st := &Store{maxMeta: DefaultMaxMetadataBytes}
	for _, n := range []int{0, 16, 40} {
		cp := failedBatch(n)
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, _, err := st.encode(cp, 2); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
