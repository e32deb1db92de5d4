package pulsar

import "sync/atomic"

// FailWrites makes the next n Write calls of any writer of topic (as the
// URL names it) in this process fail whole, before anything is sent (n <= 0
// clears it).
func FailWrites(topic string, n int) {
	v, _ := writeFaults.LoadOrStore(topic, new(atomic.Int64))
	v.(*atomic.Int64).Store(int64(max(n, 0)))
}

// FailFetches makes the next n Fetch calls of any reader of topic in this
// process fail (n <= 0 clears it).
func FailFetches(topic string, n int) {
	v, _ := fetchFaults.LoadOrStore(topic, new(atomic.Int64))
	v.(*atomic.Int64).Store(int64(max(n, 0)))
}

// ErrInjectedWrite is the error of a write failed by FailWrites.
var ErrInjectedWrite = errInjectedWrite
