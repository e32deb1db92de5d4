package driver_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/unistream-go/unistream/stream/driver"
)

func TestIsPermanent(t *testing.T) {
	cause := errors.New("topic does not exist")
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", cause, false},
		{"marked", driver.Permanent(cause), true},
		{"marked and wrapped", fmt.Errorf("write: %w", driver.Permanent(cause)), true},
		{"record too large", fmt.Errorf("x: %w", driver.ErrRecordTooLarge), true},
		{"preceding record failed", driver.ErrPrecedingRecordFailed, false},
		{"preceding record failed for good", fmt.Errorf("%w: %w", driver.ErrPrecedingRecordFailed, driver.Permanent(cause)), false},
		{"cancelled, though marked", driver.Permanent(context.Canceled), false},
		{"deadline", context.DeadlineExceeded, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := driver.IsPermanent(tc.err); got != tc.want {
				t.Errorf("IsPermanent(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
	err := driver.Permanent(cause)
	if err.Error() != cause.Error() || !errors.Is(err, cause) {
		t.Errorf("Permanent changed the error: %q", err)
	}
	if driver.Permanent(nil) != nil {
		t.Error("Permanent(nil) is not nil")
	}
}
