//go:build unistream_lite

package main

// kinesisEmbedded stands in for the Kinesis backend in the lite build
// (-tags unistream_lite, what make demo runs), which leaves the AWS SDK out.
// kinesisAdmin is empty: the lite build cannot open Kinesis streams.
var kinesisAdmin streamAdmin

var kinesisEmbedded = embeddedBackend{name: "kinesis", port: 4567,
	missing: "this binary was built with -tags unistream_lite (make demo), which leaves Kinesis out: run go run ./cmd/unistream demo --backend kinesis"}
