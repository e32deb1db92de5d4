package pulsar

import "testing"

func TestRecordsBehind(t *testing.T) {
	id := func(l, e int64, b int32) MessageID { return MessageID{Ledger: l, Entry: e, Batch: b} }
	for _, tc := range []struct {
		name    string
		pos     MessageID
		posSize int32
		end     MessageID
		want    int64
	}{
		{"empty partition", id(0, 0, -1), 0, id(0, -1, -1), 0},
		{"at the end, not batched", id(3, 7, -1), 0, id(3, 7, -1), 0},
		{"at the end of a batch", id(3, 7, 4), 5, id(3, 7, 4), 0},
		{"inside the last batch", id(3, 7, 1), 5, id(3, 7, 4), 3},
		{"past a stale end", id(3, 9, -1), 0, id(3, 7, -1), 0},
		{"past a stale end in an older ledger", id(4, 0, -1), 0, id(3, 7, -1), 0},
		{"entries of one message", id(3, 2, -1), 0, id(3, 7, -1), 5},
		{"entries of one message, batch index 0", id(3, 2, 0), 1, id(3, 7, 0), 5},
		{"rest of a batch and a last batch", id(3, 2, 1), 4, id(3, 4, 2), 2 + 1 + 3},
		{"batch size unknown", id(3, 2, 1), 0, id(3, 4, 2), 1 + 3},
		{"another ledger", id(3, 9, -1), 0, id(5, 2, -1), 3},
		{"another ledger, batched end", id(3, 9, -1), 0, id(5, 2, 9), 2 + 10},
	} {
		if got := recordsBehind(tc.pos, tc.posSize, tc.end); got != tc.want {
			t.Errorf("%s: recordsBehind(%v size %d, %v) = %d, want %d", tc.name, tc.pos, tc.posSize, tc.end, got, tc.want)
		}
	}
}
