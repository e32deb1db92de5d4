package conformance

// scenario is one named check of the suite.
type scenario struct {
	name      string
	usesStore bool // run once per checkpoint store
	run       func(e *env)
}

// scenarios are the suite, in the order of issue 4.
var scenarios = []scenario{
	{"01_round_trip", true, roundTrip},
	{"02_graceful_stop_resume", true, gracefulStopResume},
	{"03_crash_resume", true, crashResume},
	{"04_retry_backoff", true, retryBackoff},
	{"05_exhausted_to_dlq", true, exhaustedToDLQ},
	{"06_permanent_and_skip", true, permanentAndSkip},
	{"07_ordered_halt", true, orderedHalt},
	{"08_dlq_unavailable_halts", true, dlqUnavailableHalts},
	{"09_attempts_survive_restart", true, attemptsSurviveRestart},
	{"10_concurrency_order_and_gaps", true, concurrencyOrderAndGaps},
	{"11_start_positions", true, startPositions},
	{"12_pointer_codec", false, pointerCodec},
	{"13_producer", false, producer},
	{"14_transient_faults", true, transientFaults},
	{"15_scale_out", true, scaleOut},
	{"16_resharding", true, resharding},
	{"17_limits", false, limits},
	{"18_no_goroutine_leaks", true, noGoroutineLeaks},
}
