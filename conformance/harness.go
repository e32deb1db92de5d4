package conformance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
)

// Harness describes one backend to the suite: how to create fresh streams,
// what the harness can do besides (inject faults, reshard), and which
// checkpoint stores to run the scenarios with. An adapter's conformance test
// builds one and passes it to Run:
//
//	func TestConformance(t *testing.T) { conformance.Run(t, conformanceHarness(t)) }
//
// Fields are only ever added to Harness, never renamed: a harness written
// today keeps compiling. Zero values of optional fields mean "cannot".
type Harness struct {
	// Name names the backend in logs and in the report ("mem", "kafka").
	// Required.
	Name string

	// NewStream creates a fresh, empty stream as spec says and returns its
	// URL, which the suite opens through the scheme registry (stream.Open,
	// stream.OpenConsumer, stream.OpenProducer). Every call must return a
	// stream no other call returned. The suite deletes the stream through
	// DeleteStream when its scenario ends; a harness without DeleteStream
	// removes it in a t.Cleanup if it needs to. Scenarios run one at a time, but make it
	// safe for concurrent use anyway. Required.
	NewStream func(t T, spec StreamSpec) (url string, err error)

	// DeleteStream deletes a stream NewStream made, given its URL, and
	// returns once it is gone, so that what it held is free again (a
	// Kinesis stream must have left DELETING: until then it counts against
	// the account's shard limit). A stream that does not exist counts as
	// gone. The suite calls it when the scenario (or the part of one) that
	// made the stream ends, after closing every consumer, producer and
	// stream it opened, unless KeepStreams is set; a failure fails that
	// scenario. Nil means the streams are not deleted by the suite (a
	// harness on an embedded broker may drop them with the broker); the
	// report says so for each stream.
	DeleteStream func(t T, url string) error

	// KeepStreams keeps the streams NewStream made: DeleteStream is not
	// called, and the report lists them as kept.
	KeepStreams bool

	// MaxShards, if positive, is a budget: the partitions (shards) of the
	// streams the suite made and has not yet deleted never add up to more.
	// Scenarios run one at a time and delete their streams when they end
	// (DeleteStream returns once a stream is gone), so each scenario starts
	// with the whole budget unless streams were kept (KeepStreams) or a
	// deletion failed. A stream that would take the total above the budget
	// is not created: its scenario fails with an error naming the budget,
	// what the stream needs and what is in use. A split (Split) adds its
	// net new partitions to the count; it is not refused. Zero means no
	// budget. It is for backends that bill or limit per shard (Kinesis).
	MaxShards int

	// Target, if set, is where NewStream makes its streams, for the
	// report. External also means that NewStream already makes streams on
	// the user's cluster (as `unistream conformance` does), so the suite
	// uses it as is instead of the URL template of UNISTREAM_CONFORMANCE_URL.
	// Empty means the target UNISTREAM_TARGET selects (CurrentTarget).
	Target Target

	// CanInjectFaults declares that Faults injects broker faults into the
	// streams NewStream made. Scenarios that need faults are skipped, naming
	// the capability, when it is false.
	CanInjectFaults bool
	// Faults returns the fault injector of a stream made by NewStream.
	// Required when CanInjectFaults is set.
	Faults func(t T, url string) (Faults, error)

	// CanSplit declares that Split reshards streams made by NewStream (the
	// stream's driver must also declare Capabilities().Resharding).
	CanSplit bool
	// Split closes an open partition of the stream at url and adds its
	// children (whose Parents name the partition); it returns the
	// children's ids. Required when CanSplit is set.
	Split func(t T, url, partition string) (children []string, err error)

	// Stores lists the checkpoint stores every scenario that uses a store
	// runs with, each as a subtest "store=NAME". Nil means DefaultStores:
	// the memory and the file store.
	Stores []StoreFactory

	// NeedsDocker declares that the harness starts containers (the
	// containers target): without a reachable Docker engine the suite is
	// skipped with the reason "no Docker engine reachable".
	NeedsDocker bool

	// PollInterval is the consumers' poll interval after an empty fetch
	// (the suite runs consumers on a fake clock, so it costs no real time
	// unless Fetch itself waits). Zero means 1 ms.
	PollInterval time.Duration

	// Timeout bounds each wait of a scenario (for records to arrive, a
	// consumer to finish); it is a failure timeout, never a pass criterion.
	// Zero means 60 s.
	Timeout time.Duration

	// Group, if set, returns the consumer options that make a consumer of
	// s (a stream the scenario opened for one member, as a separate process
	// would) one member of the group called name. The default is
	// stream.WithGroup(name), with the scenario's store. A harness whose
	// group mode keeps checkpoints in a store bound to the member (the
	// Kafka store fences with the member's generation) adds its
	// WithCheckpointStore here. Group scenarios run only on streams whose
	// driver declares Capabilities.ConsumerGroups.
	Group func(t T, s driver.Stream, name string) ([]stream.ConsumerOption, error)
	// GroupStores lists the checkpoint stores the group scenarios run
	// with, each as a subtest "store=NAME"; the scenario reads progress
	// through it. Nil means Stores.
	GroupStores []StoreFactory

	// LeaseStores lists the checkpoint stores the lease scenario
	// (20_lease_scale_out: members share the stream through
	// stream.WithLeases, with the leases in the store) runs with, each as a
	// subtest "store=NAME". A store that does not implement
	// checkpoint.Leaser is skipped by CapLeases. Nil means Stores.
	LeaseStores []StoreFactory

	// BrokerFunctions names functions of an in-process broker the harness
	// runs (kfake, pulsarfake, …). The leak check does not count goroutines
	// with one of them on their stack: they belong to the broker, which
	// outlives the clients and ends a closed connection's goroutines on its
	// own schedule. Our clients' goroutines are still all checked.
	BrokerFunctions []string

	// ledger tracks the streams of a run and the shard budget; runT sets
	// it on its copy of the harness.
	ledger *ledger
}

// StreamSpec says what stream Harness.NewStream creates.
type StreamSpec struct {
	// Partitions is the partition count (at least 1).
	Partitions int
}

// Faults injects broker faults into one stream. Faults act on the stream
// itself (every client of it sees them), as a broker outage would. Methods
// are safe for concurrent use.
type Faults interface {
	// FailFetches makes the next n fetches, of any reader of the stream,
	// fail with a transient broker error.
	FailFetches(n int)
	// FailWrites makes the next n write calls fail whole with a transient
	// broker error; nothing of them is stored.
	FailWrites(n int)
	// Clear removes every injected fault.
	Clear()
}

// PartialWriteFaults is implemented by a Faults that can fail single
// records of a write call (Kinesis PutRecords, Kafka per-partition errors).
type PartialWriteFaults interface {
	Faults
	// FailRecords makes the records at the given indexes of the next write
	// call fail with a per-record error; as the driver contract requires,
	// later records of the same partition in that call fail too.
	FailRecords(indexes ...int)
}

// ConnectionDropper is implemented by a Faults that can cut the
// connections of every client of the stream, as a broker restart would.
type ConnectionDropper interface {
	Faults
	// DropConnections closes every open connection to the stream's broker;
	// clients must reconnect.
	DropConnections()
}

// StoreFactory makes a checkpoint store for one scenario run.
type StoreFactory struct {
	// Name names the store in subtest names ("store=memory") and the report.
	Name string
	// New returns a new, empty store. The scenario restarts its consumers
	// on the same store, as a restarted process would reopen it.
	New func(t T) (checkpoint.Store, error)
}

// DefaultStores returns the memory store and the file store (in t.TempDir()).
func DefaultStores() []StoreFactory {
	return []StoreFactory{
		{Name: "memory", New: func(T) (checkpoint.Store, error) { return checkpoint.NewMemoryStore(), nil }},
		{Name: "file", New: func(t T) (checkpoint.Store, error) { return checkpoint.NewFileStore(t.TempDir()) }},
	}
}

// Capability names something a scenario needs. A scenario is skipped only
// when a capability is missing, and the skip message names it.
type Capability string

// The capabilities scenarios ask for: the first ones come from the stream's
// driver.Capabilities, the others from the Harness.
const (
	// CapPerKeyOrder is driver.Capabilities.PerKeyOrder.
	CapPerKeyOrder Capability = "PerKeyOrder"
	// CapResharding is driver.Capabilities.Resharding.
	CapResharding Capability = "Resharding"
	// CapConsumerGroups is driver.Capabilities.ConsumerGroups.
	CapConsumerGroups Capability = "ConsumerGroups"
	// CapRecordMeta is a stream that carries the producer's record IDs,
	// headers and event times: one that does not declare
	// driver.Capabilities.PlainRecords. On a plain stream only the
	// scenarios written for it run (plainReady).
	CapRecordMeta Capability = "!PlainRecords"
	// CapPlainRecords is driver.Capabilities.PlainRecords.
	CapPlainRecords Capability = "PlainRecords"
	// CapMaxRecordBytes is a declared driver.Capabilities.MaxRecordBytes.
	CapMaxRecordBytes Capability = "MaxRecordBytes"
	// CapInjectFaults is Harness.CanInjectFaults.
	CapInjectFaults Capability = "CanInjectFaults"
	// CapPartialWriteFaults is a Harness.Faults implementing
	// PartialWriteFaults.
	CapPartialWriteFaults Capability = "CanInjectFaults+PartialWriteFaults"
	// CapDropConnections is a Harness.Faults implementing
	// ConnectionDropper.
	CapDropConnections Capability = "CanInjectFaults+ConnectionDropper"
	// CapSplit is Harness.CanSplit.
	CapSplit Capability = "CanSplit"
	// CapLeases is a checkpoint store (of Harness.LeaseStores) that
	// implements checkpoint.Leaser, as stream.WithLeases needs.
	CapLeases Capability = "checkpoint.Leaser"
	// CapLag is a reader that implements driver.LagReporter.
	CapLag Capability = "driver.LagReporter"
)

// Validate checks that the harness is complete: the required fields are
// set and every declared flag has its hook.
func (h *Harness) Validate() error {
	var errs []error
	if h.Name == "" {
		errs = append(errs, errors.New("Name is empty: expected the backend's name, such as \"mem\""))
	}
	if h.NewStream == nil {
		errs = append(errs, errors.New("NewStream is nil: expected a function creating fresh streams"))
	}
	if h.CanInjectFaults && h.Faults == nil {
		errs = append(errs, errors.New("CanInjectFaults is set but Faults is nil"))
	}
	if h.CanSplit && h.Split == nil {
		errs = append(errs, errors.New("CanSplit is set but Split is nil"))
	}
	for i, s := range h.Stores {
		if s.Name == "" || s.New == nil {
			//lint:ignore ST1005 the error starts with the field it names
			errs = append(errs, fmt.Errorf("Stores[%d]: expected a Name and a New function", i))
		}
	}
	for i, s := range h.GroupStores {
		if s.Name == "" || s.New == nil {
			errs = append(errs, fmt.Errorf("GroupStores[%d]: expected a Name and a New function", i))
		}
	}
	for i, s := range h.LeaseStores {
		if s.Name == "" || s.New == nil {
			errs = append(errs, fmt.Errorf("LeaseStores[%d]: expected a Name and a New function", i))
		}
	}
	if h.MaxShards < 0 {
		errs = append(errs, fmt.Errorf("MaxShards is %d: expected 0 (no budget) or a positive number of shards", h.MaxShards))
	}
	switch h.Target {
	case "", Embedded, Containers, External:
	default:
		errs = append(errs, fmt.Errorf("Target is %q: expected empty, embedded, containers or external", string(h.Target)))
	}
	if h.PollInterval < 0 || h.Timeout < 0 {
		errs = append(errs, errors.New("PollInterval and Timeout must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("conformance: harness %q: %w", h.Name, err)
	}
	return nil
}

// Target is where the suite's backends run, chosen by UNISTREAM_TARGET.
type Target string

// The targets.
const (
	// Embedded runs in-process brokers; no Docker. The default.
	Embedded Target = "embedded"
	// Containers runs real brokers in containers; needs a Docker engine.
	Containers Target = "containers"
	// External runs against the user's own cluster, whose stream URLs come
	// from environment variables (see ExternalURLTemplate).
	External Target = "external"
)

// EnvTarget is the environment variable that selects the Target.
const EnvTarget = "UNISTREAM_TARGET"

// EnvURL is the environment variable holding the stream URL template of
// the external target; EnvURL + "_" + upper-case harness name (such as
// UNISTREAM_CONFORMANCE_URL_KAFKA) takes precedence for one backend.
const EnvURL = "UNISTREAM_CONFORMANCE_URL"

// EnvTimeout, a Go duration such as "10s", overrides Harness.Timeout: the
// failure timeout of every wait.
const EnvTimeout = "UNISTREAM_CONFORMANCE_TIMEOUT"

// EnvStacks, set to 1, makes a wait that times out log every goroutine's
// stack first, to diagnose a hang.
const EnvStacks = "UNISTREAM_CONFORMANCE_STACKS"

// CurrentTarget returns the target UNISTREAM_TARGET selects; unset means
// Embedded.
func CurrentTarget() (Target, error) {
	switch v := Target(strings.TrimSpace(os.Getenv(EnvTarget))); v {
	case "":
		return Embedded, nil
	case Embedded, Containers, External:
		return v, nil
	default:
		return "", fmt.Errorf("conformance: %s=%q: expected embedded, containers or external", EnvTarget, string(v))
	}
}

// ExternalURLTemplate returns the URL template of the external target for
// the named backend: UNISTREAM_CONFORMANCE_URL_<NAME>, else
// UNISTREAM_CONFORMANCE_URL. In the template "{name}" is replaced by a
// fresh stream name and "{partitions}" by the partition count, as in
// "kafka://broker:9092/{name}?partitions={partitions}".
func ExternalURLTemplate(backend string) (string, bool) {
	key := EnvURL + "_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(backend))
	if v := os.Getenv(key); v != "" {
		return v, true
	}
	v := os.Getenv(EnvURL)
	return v, v != ""
}

// DockerReachable reports whether a Docker engine answers on DOCKER_HOST
// or the default socket /var/run/docker.sock. It is a variable so tests can
// replace it.
var DockerReachable = func() bool {
	addr := os.Getenv("DOCKER_HOST")
	network, path := "unix", "/var/run/docker.sock"
	switch {
	case strings.HasPrefix(addr, "unix://"):
		path = strings.TrimPrefix(addr, "unix://")
	case strings.HasPrefix(addr, "tcp://"):
		network, path = "tcp", strings.TrimPrefix(addr, "tcp://")
	case addr != "":
		return false
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(context.Background(), network, path)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
