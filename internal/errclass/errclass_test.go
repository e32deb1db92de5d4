package errclass

import (
	"errors"
	"io/fs"
	"testing"
)

func TestMark(t *testing.T) {
	class := errors.New("class")
	cause := &fs.PathError{Op: "open", Path: "x", Err: fs.ErrPermission}
	err := Mark(cause, class)
	if err.Error() != cause.Error() {
		t.Errorf("message %q, want %q", err, cause)
	}
	var pe *fs.PathError
	if !errors.Is(err, class) || !errors.Is(err, fs.ErrPermission) || !errors.As(err, &pe) {
		t.Errorf("%v does not match its class and its cause", err)
	}
	if Mark(nil, class) != nil {
		t.Error("Mark(nil) is not nil")
	}
}
