// Package pb holds the Go types of the Pulsar binary protocol (PulsarApi.proto
// from pulsar-client-go, under a renamed proto package) used by pulsarfake.
//
// The generated code is committed; building needs no protoc. `make generate`
// (or `go generate ./adapters/pulsar/pulsarfake/...`) regenerates it.
package pb

//go:generate sh gen.sh
