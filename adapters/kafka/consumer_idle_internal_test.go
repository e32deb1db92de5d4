package kafka

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream/driver"
)

// TestSharedReadersIdleConnections opens readers of 100 partitions on a
// pool of two clients with a short conn_idle_timeout and reads them all:
// once the clients' seed and metadata connections have been idle that
// long they close, and the stream holds one fetch connection per pooled
// client (the bound: at most the pool size, plus one for
// metadata), however many partitions it reads. The readers keep fetching
// meanwhile, and records produced after the settling still arrive.
func TestSharedReadersIdleConnections(t *testing.T) {
	ctx := context.Background()
	const parts = 100
	const topic = "idle"
	c, pc := startTopic(t, topic, parts)
	for p := int32(0); p < parts; p++ {
		produceTo(t, pc, topic, p, 0, 3, 0)
	}
	pc.Close()
	s, err := Open(ctx, Options{Target: Target{Brokers: c.Addrs(), Topic: topic},
		FetchWait: 10 * time.Millisecond, ReaderClients: 2, ConnIdleTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	readers := openReaders(t, s, parts)
	for _, r := range readers {
		defer r.Close()
	}
	for p := range readers {
		readOffsets(t, readers[p], int32(p), 0, 3)
	}
	peak := c.Connections()
	// The reaper of each client runs every conn_idle_timeout: wait for it
	// (with a deadline far above, for a busy machine) rather than guess.
	most := s.o.ReaderClients + 1
	if n := c.WaitConnections(most, 30*time.Second); n > most {
		t.Fatalf("the stream still holds %d connections 30s after reading (%d just after), want at most %d once idle ones close (conn_idle_timeout %v, %d pooled clients)",
			n, peak, most, s.o.ConnIdleTimeout, s.o.ReaderClients)
	} else {
		t.Logf("%d connections after reading, %d once the idle ones closed", peak, n)
	}
	// The fetch connections stay and serve: new records arrive.
	pc = manualClient(t, c)
	defer pc.Close()
	for _, p := range []int32{0, 1, 99} {
		produceTo(t, pc, topic, p, 3, 2, 0)
		readOffsets(t, readers[p], p, 3, 2)
	}
}

// TestWritersIdleConnections keeps four writers writing with a short
// conn_idle_timeout: once their seed and metadata connections have idled
// out, the stream holds one produce connection per writer (a writer is a
// producer's send lane), whatever the partitions written.
func TestWritersIdleConnections(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.Start(t)
	const parts = 64
	if err := c.CreateTopic(ctx, "w", parts); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, Options{Target: Target{Brokers: c.Addrs(), Topic: "w"}, ConnIdleTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ws := make([]driver.Writer, 4)
	for i := range ws {
		if ws[i], err = s.OpenWriter(ctx); err != nil {
			t.Fatal(err)
		}
		defer ws[i].Close()
	}
	recs := make([]driver.Record, parts)
	res := make([]driver.WriteResult, parts)
	most := len(ws) + 1
	peak := 0
	deadline := time.Now().Add(30 * time.Second)
	for round := 0; ; round++ {
		for _, w := range ws {
			for j := range recs {
				recs[j] = driver.Record{ID: strconv.Itoa(round) + "/" + strconv.Itoa(j), Key: []byte(strconv.Itoa(j)), Value: []byte("v")}
			}
			if err := w.Write(ctx, recs, res); err != nil {
				t.Fatal(err)
			}
			for j, r := range res {
				if r.Err != nil {
					t.Fatalf("record %d: %v", j, r.Err)
				}
			}
		}
		n := c.Connections()
		peak = max(peak, n)
		if n <= most {
			t.Logf("%d connections while the writers started, %d once the idle ones closed, still writing", peak, n)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("four writers still hold %d connections after 30s of writing (%d at most), want at most %d once idle ones close", n, peak, most)
		}
	}
}
