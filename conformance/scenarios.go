package conformance

// scenario is one named check of the suite.
type scenario struct {
	name      string
	usesStore bool // run once per checkpoint store
	group     bool // run once per group store (Harness.GroupStores)
	leases    bool // run once per lease store (Harness.LeaseStores)
	run       func(e *env)
}

// scenarios are the suite: 1 to 20 from the first issues, 21 to 23 the
// commit cadence, poison-pill isolation and store outages, 24 the round
// trip of plain records (driver.Capabilities.PlainRecords), 25 the lag a
// reader reports (driver.LagReporter).
var scenarios = []scenario{
	{"01_round_trip", true, false, false, roundTrip},
	{"02_graceful_stop_resume", true, false, false, gracefulStopResume},
	{"03_crash_resume", true, false, false, crashResume},
	{"04_retry_backoff", true, false, false, retryBackoff},
	{"05_exhausted_to_dlq", true, false, false, exhaustedToDLQ},
	{"06_permanent_and_skip", true, false, false, permanentAndSkip},
	{"07_ordered_halt", true, false, false, orderedHalt},
	{"08_dlq_unavailable_halts", true, false, false, dlqUnavailableHalts},
	{"09_attempts_survive_restart", true, false, false, attemptsSurviveRestart},
	{"10_concurrency_order_and_gaps", true, false, false, concurrencyOrderAndGaps},
	{"11_start_positions", true, false, false, startPositions},
	{"12_pointer_codec", false, false, false, pointerCodec},
	{"13_producer", false, false, false, producer},
	{"14_transient_faults", true, false, false, transientFaults},
	{"15_scale_out", true, false, false, scaleOut},
	{"16_resharding", true, false, false, resharding},
	{"17_limits", false, false, false, limits},
	{"18_no_goroutine_leaks", true, false, false, noGoroutineLeaks},
	{"19_group_scale_out", true, true, false, groupScaleOut},
	{"20_lease_scale_out", true, false, true, leaseScaleOut},
	{"21_commit_cadence", true, false, false, commitCadence},
	{"22_poison_pill", true, false, false, poisonPill},
	{"23_store_outage", true, false, false, storeOutage},
	{"24_plain_round_trip", true, false, false, plainRoundTrip},
	{"25_lag", false, false, false, lagFalls},
}

// plainReady names the scenarios that also run on a stream declaring
// driver.Capabilities.PlainRecords (Kinesis with envelope=false), whose
// records come back with their position as ID, no headers and the time
// they were stored: the suite tracks the records it writes by that ID.
// These are the consumer basics, the pointer codec and a plain producer
// round trip.
// The others check the producer's IDs, headers or event times and are
// skipped on such a stream (CapRecordMeta).
var plainReady = map[string]bool{
	"02_graceful_stop_resume":       true,
	"03_crash_resume":               true,
	"04_retry_backoff":              true,
	"10_concurrency_order_and_gaps": true,
	"11_start_positions":            true,
	"12_pointer_codec":              true,
	"14_transient_faults":           true,
	"21_commit_cadence":             true,
	"24_plain_round_trip":           true,
	"25_lag":                        true,
}
