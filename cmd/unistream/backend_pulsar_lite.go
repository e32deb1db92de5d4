//go:build unistream_lite

package main

// pulsarEmbedded stands in for the Pulsar backend in the lite build
// (-tags unistream_lite, what make demo runs), which leaves the Pulsar
// client out.
// pulsarAdmin is empty: the lite build cannot open Pulsar streams.
var pulsarAdmin streamAdmin

var pulsarEmbedded = embeddedBackend{name: "pulsar", port: 6650,
	missing: "this binary was built with -tags unistream_lite (make demo), which leaves Pulsar out: run go run ./cmd/unistream demo --backend pulsar"}
