package pulsar_test

import (
	"context"
	"testing"

	"github.com/unistream-go/unistream/adapters/pulsar"
	"github.com/unistream-go/unistream/adapters/pulsar/pulsartest"
	"github.com/unistream-go/unistream/stream/driver"
)

// TestReaderLag checks Lag on entries of one message and on a batched
// entry, where it is exact: unknown (-1) before the first record, then the
// records not yet returned after each Fetch, down to 0.
func TestReaderLag(t *testing.T) {
	b := pulsartest.Start(t, pulsartest.Topic("lag", 0))
	s := openStream(t, b.URL("lag", "batching_delay", "1m"))
	const singles, batched = 5, 10
	for i := range singles {
		write(t, s, recs("single", singles, "k")[i])
	}
	res := write(t, s, recs("batch", batched, "k")...)
	if first, last := mustParse(t, res[0].Pointer), mustParse(t, res[batched-1].Pointer); first.Entry != last.Entry {
		t.Fatalf("the last write went to %s and %s: want one batched entry (the test needs batching)", first, last)
	}
	r, err := s.OpenReader(context.Background(), "0", driver.Start{Kind: driver.StartEarliest})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	lr, ok := r.(driver.LagReporter)
	if !ok {
		t.Fatalf("the reader is a %T, want a driver.LagReporter", r)
	}
	if got := lr.Lag(); got.Records != -1 || got.Time != -1 {
		t.Errorf("Lag before any Fetch = %+v, want unknown (-1, -1)", got)
	}
	read := 0
	for read < singles+batched {
		got, err := r.Fetch(context.Background(), 1)
		if err != nil {
			t.Fatalf("Fetch after %d records: %v", read, err)
		}
		if len(got) == 0 {
			continue // FetchWait passed without a message: the test's timeout bounds the loop
		}
		read += len(got)
		if lag, want := lr.Lag(), int64(singles+batched-read); lag.Records != want || lag.Time != -1 {
			t.Errorf("Lag after %d records = %+v, want %d records and no time", read, lag, want)
		}
	}
}

func mustParse(t *testing.T, p driver.Pointer) pulsar.MessageID {
	t.Helper()
	id, err := pulsar.ParsePointer(p)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
