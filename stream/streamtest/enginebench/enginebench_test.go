package enginebench

import (
	"regexp"
	"testing"
)

// TestAppendID: the IDs are 36 bytes in the text form of a UUIDv7 (the
// engine's form), distinct for distinct records, and appended after what
// dst holds.
func TestAppendID(t *testing.T) {
	uuid7 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]int{}
	for _, i := range []int{0, 1, 15, 16, 4095, 4096, 1 << 20, 2_000_000 - 1, 1<<48 - 1} {
		id := string(AppendID(nil, i))
		if !uuid7.MatchString(id) {
			t.Errorf("AppendID(nil, %d) = %q, want the text form of a UUIDv7", i, id)
		}
		if j, dup := seen[id]; dup {
			t.Errorf("AppendID gave %q for records %d and %d", id, j, i)
		}
		seen[id] = i
	}
	if got := string(AppendID([]byte("x"), 1)); got != "x"+string(AppendID(nil, 1)) {
		t.Errorf("AppendID([]byte(\"x\"), 1) = %q, want it appended after x", got)
	}
}
