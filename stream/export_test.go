package stream

// InterruptedError is the error text an attempt interrupted by a crash
// gets, for the tests of package stream_test.
const InterruptedError = interruptedError
