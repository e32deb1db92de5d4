package stream

import (
	"errors"
	"fmt"
)

// permanentError marks a handler error that must not be retried.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return "permanent: " + e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that the consumer sends the record to the DLQ (or
// halts, in ordered mode) after this one attempt, without retrying.
func Permanent(err error) error {
	if err == nil {
		err = errors.New("permanent failure")
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was made by Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// SkipError is returned by a handler through Skip to drop a record deliberately.
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return "skip: " + e.Reason }

// Skip returns an error telling the consumer to drop the record on purpose:
// it is recorded as skipped, with the reason, and never retried.
func Skip(reason string) error { return &SkipError{Reason: reason} }

// Errors of the engines.
var (
	// ErrBufferFull is returned by Producer.Put when the buffer is at its
	// bound and the producer was configured not to block.
	ErrBufferFull = errors.New("stream: producer buffer full")
	// ErrClosed is returned when a closed consumer or producer is used.
	ErrClosed = errors.New("stream: closed")
	// ErrHalted is the error of a partition that stopped at a record.
	ErrHalted = errors.New("stream: partition halted")
	// ErrRecordRefused is matched by the error of Producer.Flush and
	// Producer.Close when records refused for good by the stream were
	// dropped (the producer has no DLQ sink).
	ErrRecordRefused = errors.New("stream: record refused for good by the stream")
)

// OptionError reports a bad option value.
type OptionError struct {
	Option   string // the option's name, e.g. "WithBatchSize"
	Value    any
	Expected string
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("stream: option %s: got %v, expected %s", e.Option, e.Value, e.Expected)
}
