package streamtest

// TB is the part of testing.TB that the test brokers' Start functions use
// (kafkatest, kinesistest, pulsartest); *testing.T and *testing.B have it.
// It names no type of package testing, so that the shipped CLI, which
// starts those brokers embedded, does not link testing.
type TB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(f func())
}
