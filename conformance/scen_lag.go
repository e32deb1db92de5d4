package conformance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/unistream-go/unistream/stream/driver"
)

// --- 25 ---

// lagFalls checks the lag a reader reports (driver.LagReporter): records
// written in a few calls to one partition are read a few at a time; after
// every Fetch, each part of the lag is unknown (-1) or not negative, and
// the records behind never exceed those not yet returned; once every
// record is returned the lag falls to 0 in each part the backend tells,
// and it tells at least one.
func lagFalls(e *env) {
	st := e.newStream(1)
	ctx := context.Background()
	r, err := st.s.OpenReader(ctx, "0", driver.Start{Kind: driver.StartEarliest})
	if err != nil {
		e.t.Fatalf("OpenReader(0, earliest): %v", err)
	}
	defer r.Close()
	lr, ok := r.(driver.LagReporter)
	e.need(CapLag, ok, fmt.Sprintf("its reader, a %T, reports no lag", r))
	const calls, perCall = 4, 5
	for range calls {
		keys := make([]string, perCall)
		for i := range keys {
			keys[i] = "lag"
		}
		st.writeKeys(keys...)
	}
	total := calls * perCall
	check := func(read int) driver.Lag {
		e.t.Helper()
		l := lr.Lag()
		if l.Records < -1 || l.Time < -1 {
			e.t.Fatalf("Lag after %d of %d records = %+v: want each part -1 (unknown) or not negative", read, total, l)
		}
		if l.Records > int64(total-read) {
			e.t.Fatalf("Lag after %d of %d records = %d records behind: want at most the %d not yet returned", read, total, l.Records, total-read)
		}
		return l
	}
	read := 0
	deadline := time.Now().Add(e.timeout)
	for {
		got, err := r.Fetch(ctx, 3)
		if err != nil && !errors.Is(err, driver.ErrPartitionFinished) {
			e.t.Fatalf("Fetch after %d of %d records: %v", read, total, err)
		}
		read += len(got)
		if read > total {
			e.t.Fatalf("Fetch returned %d records, want %d", read, total)
		}
		l := check(read)
		if read == total && l.Records <= 0 && l.Time <= 0 && (l.Records == 0 || l.Time == 0) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("Lag after %d of %d records = %+v within %v: want 0 in each part the backend tells, once everything is read", read, total, l, e.timeout)
		}
		if len(got) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}
