package checkpoint

import (
	"errors"
	"strings"
	"testing"
)

// TestRefusedSaveError: the error of a refused conditional Save says
// which version was expected and which is stored, or that the document
// changed at the same version; it always matches ErrConflict.
func TestRefusedSaveError(t *testing.T) {
	k := Key{Consumer: "c", Stream: "s", Partition: "0"}
	cases := []struct {
		expected, stored uint64
		want             string
	}{
		{3, 3, "version 3 is stored but its document changed"},
		{3, 5, "expected stored version 3, but version 5 is stored"},
		{3, 0, "no checkpoint is stored"},
		{0, 2, "expected no stored checkpoint (version 0), but version 2 is stored"},
	}
	for _, tc := range cases {
		err := RefusedSaveError(k, tc.expected, tc.stored)
		if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), k.String()) {
			t.Errorf("RefusedSaveError(%d, %d) = %v, want ErrConflict naming %s and saying %q", tc.expected, tc.stored, err, k, tc.want)
		}
	}
}
