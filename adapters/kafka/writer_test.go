package kafka_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/unistream-go/unistream/adapters/kafka"
	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream/driver"
)

// TestWriterReusesBuffersAcrossCalls writes three calls through one writer,
// whose records, headers and id header values live in buffers reused from
// call to call: calls of decreasing then increasing size, with and without
// keys and headers, and ids of varied lengths. Every record must be in the
// log as written (id, key, value, headers in order), where its result
// says, and the results of an earlier call must not change when a later
// call reuses the buffers.
func TestWriterReusesBuffersAcrossCalls(t *testing.T) {
	c := kafkatest.Start(t)
	s := newTopic(t, c, 3)
	w, err := s.OpenWriter(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	mk := func(call, n, headers int) []driver.Record {
		recs := make([]driver.Record, n)
		for i := range recs {
			r := driver.Record{
				ID:    fmt.Sprintf("c%d-%d-%s", call, i, bytes.Repeat([]byte{'x'}, (i*7+call)%23)),
				Value: fmt.Appendf(nil, "value %d of call %d", i, call),
				Time:  time.UnixMilli(1_700_000_000_000 + int64(call*1000+i)),
			}
			if i%4 != 3 { // every fourth record has no key: round robin
				r.Key = fmt.Appendf(nil, "key-%d", (i*call)%11)
			}
			for h := range (i + call) % (headers + 1) {
				r.Headers = append(r.Headers, driver.Header{Key: "h" + strconv.Itoa(h), Value: fmt.Appendf(nil, "%d/%d/%d", call, i, h)})
			}
			recs[i] = r
		}
		return recs
	}
	calls := [][]driver.Record{mk(1, 300, 4), mk(2, 40, 1), mk(3, 700, 6)}
	results := make([][]driver.WriteResult, len(calls))
	snapshot := make([][]driver.WriteResult, len(calls)) // deep copies, taken at once
	for k, recs := range calls {
		res := make([]driver.WriteResult, len(recs))
		if err := w.Write(bg, recs, res); err != nil {
			t.Fatalf("call %d: %v", k, err)
		}
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("call %d record %d (%s): %v", k, i, recs[i].ID, r.Err)
			}
			snapshot[k] = append(snapshot[k], driver.WriteResult{Partition: r.Partition, Pointer: bytes.Clone(r.Pointer)})
		}
		results[k] = res
	}

	// Where each record was read.
	type place struct {
		partition string
		offset    int64
	}
	read := map[string]driver.Record{}
	at := map[string]place{}
	for _, r := range readAll(t, s) {
		if _, dup := read[r.ID]; dup {
			t.Errorf("%s is in the log twice", r.ID)
		}
		read[r.ID] = r
		at[r.ID] = place{r.Partition, offsetOf(t, r.Pointer)}
	}
	total := 0
	for k, recs := range calls {
		for i, want := range recs {
			total++
			res := results[k][i]
			if res.Partition != snapshot[k][i].Partition || !bytes.Equal(res.Pointer, snapshot[k][i].Pointer) {
				t.Errorf("call %d record %d: result changed after later calls: %s@%x, was %s@%x",
					k, i, res.Partition, res.Pointer, snapshot[k][i].Partition, snapshot[k][i].Pointer)
			}
			got, ok := read[want.ID]
			if !ok {
				t.Errorf("call %d record %d (%s) is not in the log", k, i, want.ID)
				continue
			}
			if p := (place{res.Partition, offsetOf(t, res.Pointer)}); p != at[want.ID] {
				t.Errorf("%s: result says %v, read at %v", want.ID, p, at[want.ID])
			}
			if !bytes.Equal(got.Key, want.Key) || !bytes.Equal(got.Value, want.Value) || !got.Time.Equal(want.Time) {
				t.Errorf("%s: read key %q value %q time %v, wrote %q %q %v", want.ID, got.Key, got.Value, got.Time, want.Key, want.Value, want.Time)
			}
			if !slices.EqualFunc(got.Headers, want.Headers, func(a, b driver.Header) bool { return a.Key == b.Key && bytes.Equal(a.Value, b.Value) }) {
				t.Errorf("%s: read headers %v, wrote %v", want.ID, got.Headers, want.Headers)
			}
			if len(want.Key) > 0 {
				p, err := s.PartitionFor(bg, want.Key)
				if err != nil {
					t.Fatal(err)
				}
				if res.Partition != p {
					t.Errorf("%s: written to partition %s, its key's partition is %s", want.ID, res.Partition, p)
				}
			}
		}
	}
	if len(read) != total {
		t.Errorf("the log holds %d records, %d were written", len(read), total)
	}
}

// TestWriterFullCallsBackToBack writes two calls of MaxBatchRecords records
// through one writer, one right after the other: the second must find the
// client's buffer empty (the limit on buffered records is one call's).
func TestWriterFullCallsBackToBack(t *testing.T) {
	c := kafkatest.Start(t)
	s := newTopic(t, c, 2)
	w, err := s.OpenWriter(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	recs := make([]driver.Record, kafka.DefaultMaxBatchRecords)
	res := make([]driver.WriteResult, len(recs))
	last := map[string]int64{} // partition -> last offset seen
	for call := range 2 {
		for i := range recs {
			recs[i] = driver.Record{ID: fmt.Sprintf("%d-%d", call, i), Key: []byte(strconv.Itoa(i % 97)), Value: []byte("v")}
		}
		if err := w.Write(bg, recs, res); err != nil {
			t.Fatalf("call %d: %v", call, err)
		}
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("call %d record %d: %v", call, i, r.Err)
			}
			off := offsetOf(t, r.Pointer)
			if prev, ok := last[r.Partition]; ok && off != prev+1 {
				t.Fatalf("call %d record %d: offset %d in partition %s after %d: want consecutive offsets", call, i, off, r.Partition, prev)
			}
			last[r.Partition] = off
		}
	}
	if n := last["0"] + last["1"] + 2; n != 2*int64(len(recs)) {
		t.Errorf("the results cover %d offsets, want %d", n, 2*len(recs))
	}
}

// TestWritePermanentProduceError: a produce the broker refuses for good
// (TOPIC_AUTHORIZATION_FAILED) fails the record at once with a permanent
// error, on a writer's first call (while its client loads the topic's
// metadata) and on a later one; the producer engine then takes the record
// out of its lane instead of retrying it.
func TestWritePermanentProduceError(t *testing.T) {
	for _, warm := range []bool{false, true} {
		t.Run(fmt.Sprintf("warm=%v", warm), func(t *testing.T) {
			c := kafkatest.Start(t)
			s := newTopic(t, c, 1)
			w := openWriter(t, s)
			if warm {
				if err := w.Write(bg, []driver.Record{rec("w0", "k", "v")}, make([]driver.WriteResult, 1)); err != nil {
					t.Fatal(err)
				}
			}
			h := c.Kfake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: s.Name(), Count: -1, Err: kerr.TopicAuthorizationFailed})
			defer h.Remove()
			res := make([]driver.WriteResult, 1)
			if err := w.Write(bg, []driver.Record{rec("a0", "k", "v")}, res); err != nil {
				t.Fatalf("Write = %v, want the error in the record's result", err)
			}
			if !errors.Is(res[0].Err, kerr.TopicAuthorizationFailed) || !driver.IsPermanent(res[0].Err) {
				t.Fatalf("result error %v: want TOPIC_AUTHORIZATION_FAILED, permanent", res[0].Err)
			}
		})
	}
}
