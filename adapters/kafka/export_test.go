package kafka

// FailWrites makes the next n Write calls of any writer of topic in this
// process fail whole, before anything is sent (n <= 0 clears it).
func FailWrites(topic string, n int) {
	writeFaults.Set(topic, n)
}

// ErrInjectedWrite is the error of a write failed by FailWrites.
var ErrInjectedWrite = errInjectedWrite
