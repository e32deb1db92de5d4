// Package killtest holds only tests: crash isolation of the consumer engine
// proven with real process deaths. TestKillIsolation runs the consumer in a
// child process (the test binary re-executed) whose handler kills its own
// process on one "poison" record, with os.Exit(1) or SIGKILL, restarts the
// child until it finishes, and checks that the poison record alone was
// charged for the crashes and dead-lettered, and that nothing was lost.
//
// The package sits apart from the adapters and from package conformance
// because it imports every adapter and every in-process fake broker
// (kafkatest, pulsartest, kinesistest): as a leaf that nothing imports it
// creates no import cycle, and it keeps that test machinery out of the
// library packages. This file exists only to carry the package comment.
package killtest
