package pulsar

// FailWrites makes the next n Write calls of any writer of topic (as the
// URL names it) in this process fail whole, before anything is sent (n <= 0
// clears it).
func FailWrites(topic string, n int) {
	writeFaults.Set(topic, n)
}

// FailFetches makes the next n Fetch calls of any reader of topic in this
// process fail (n <= 0 clears it).
func FailFetches(topic string, n int) {
	fetchFaults.Set(topic, n)
}

// ErrInjectedWrite is the error of a write failed by FailWrites.
var ErrInjectedWrite = errInjectedWrite
