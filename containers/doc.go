// Package containers starts real brokers in Docker containers, through
// testcontainers-go, for the containers target of the conformance suite
// (this module's tests; UNISTREAM_TARGET=containers, see
// conformance.CurrentTarget): Apache
// Kafka (Confluent's KRaft single-node image), Apache Pulsar standalone,
// and LocalStack with Kinesis and DynamoDB.
//
// Every Start function first calls Available, so without a reachable
// Docker engine it returns an error matching ErrNoDocker (never a panic)
// whose text says why; a test then skips with that text, the one skip the
// project allows besides a declared capability. Each started broker is
// closed with Close, which removes its container; testcontainers' reaper
// removes it too if the test process dies first.
//
// The images are pinned (KafkaImage, PulsarImage, LocalStackImage) so a
// run is repeatable; WithImage overrides one, for instance to try a newer
// release.
//
// A harness uses it like this:
//
//	target, err := conformance.CurrentTarget()
//	if err != nil {
//		t.Fatal(err)
//	}
//	if target == conformance.Containers {
//		if err := containers.Available(ctx); err != nil {
//			t.Skip(err) // "no Docker engine: ..."
//		}
//		k, err := containers.StartKafka(ctx)
//		if err != nil {
//			t.Fatal(err)
//		}
//		t.Cleanup(func() { k.Close() })
//		// k.Brokers are the seed brokers; k.CreateTopic makes a topic.
//	}
package containers
