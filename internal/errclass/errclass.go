// Package errclass marks errors with a class (a sentinel error) without
// changing their message, so that both the error and the class match
// errors.Is and errors.As. The driver seam (driver.Permanent) and the
// checkpoint stores (checkpoint.Permanent) mark permanent errors with it.
package errclass

// marked is an error with a class.
type marked struct {
	err   error
	class error
}

func (e *marked) Error() string   { return e.err.Error() }
func (e *marked) Unwrap() []error { return []error{e.err, e.class} }

// Mark returns err marked with class: its message is err's, and it matches
// both err and class with errors.Is and errors.As. Mark(nil, class) is nil.
func Mark(err, class error) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, class: class}
}
