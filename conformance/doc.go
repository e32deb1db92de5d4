// Package conformance is the shared suite that proves every backend of
// unistream behaves the same: checkpoints, retries, the DLQ, ordered halts,
// start positions, pointers, the producer's batching and write-ahead log,
// faults, resharding and clean shutdown. One set of scenarios runs against
// every adapter and every checkpoint store; a scenario is skipped only when
// a declared capability is missing, and the skip names it.
//
// An adapter's test describes its backend with a Harness and calls Run:
//
//	func conformanceHarness(t *testing.T) conformance.Harness {
//		return conformance.Harness{
//			Name: "mem",
//			NewStream: func(t conformance.T, spec conformance.StreamSpec) (string, error) {
//				return fmt.Sprintf("mem://c%d?partitions=%d", next(), spec.Partitions), nil
//			},
//		}
//	}
//
//	func TestConformance(t *testing.T) { conformance.Run(t, conformanceHarness(t)) }
//
// Group mode (stream.WithGroup) runs in scenario 19 on backends whose
// driver declares Capabilities.ConsumerGroups: members share a stream, one
// stops gracefully and one is killed, and the others take over from the
// checkpoints. Harness.Group and Harness.GroupStores adapt it to a
// backend whose group members keep their checkpoints in the broker.
//
// Lease mode (stream.WithLeases, KCL-style leases kept in the checkpoint
// store) runs the same scale-out in scenario 20 on every backend, since
// the lease balancer is the engine's: members run on the real clock with
// short leases (1 s, renewed every 250 ms, longer with a long
// UNISTREAM_CONFORMANCE_TIMEOUT); a new member is seen through its
// presence lease and handed partitions gracefully; the killed member's
// store calls fail, so its leases stay until they expire and are taken
// over only then. It runs with every store of Harness.LeaseStores (nil:
// Stores) that implements checkpoint.Leaser, and is skipped by CapLeases
// for a store that does not.
//
// The scenarios are written against the small T interface, so the suite
// also runs outside go test (RunStandalone), for example from a command
// that proves a team's own cluster.
//
// UNISTREAM_TARGET chooses where backends run: embedded (the default,
// in-process brokers), containers (needs a Docker engine; skipped with "no
// Docker engine reachable" otherwise) or external (stream URLs from
// UNISTREAM_CONFORMANCE_URL, see ExternalURLTemplate).
//
// `make conformance` runs the suite with go test -json and writes the
// backend × scenario matrix to conformance/REPORT.md (see ParseTestJSON and
// Markdown).
package conformance
