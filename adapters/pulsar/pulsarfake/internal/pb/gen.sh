#!/bin/sh
# Regenerates pulsarfake_api.pb.go from the PulsarApi.proto shipped inside
# the pulsar-client-go module (the version in go.mod). Needs protoc (Debian:
# protobuf-compiler) and protoc-gen-go v1.36.12 on PATH:
#
#	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
#
# The proto package and file name are renamed so the generated descriptors do
# not collide with the client's own copy ("proto: file "PulsarApi.proto" is
# already registered").
set -eu
cd "$(dirname "$0")"
ver=$(go list -m -f '{{.Version}}' github.com/apache/pulsar-client-go)
dir=$(go list -m -f '{{.Dir}}' github.com/apache/pulsar-client-go)
src="$dir/pulsar/internal/pulsar_proto/PulsarApi.proto"
{
	echo "// Copied from github.com/apache/pulsar-client-go@$ver pulsar/internal/pulsar_proto/PulsarApi.proto"
	echo "// by gen.sh, with the package and go_package renamed. Do not edit."
	sed -e 's/^package pulsar\.proto;/package unistream.pulsarfake.proto;/' \
		-e 's#^option go_package = .*#option go_package = "github.com/unistream-go/unistream/adapters/pulsar/pulsarfake/internal/pb;pb";#' \
		"$src"
} > pulsarfake_api.proto
protoc --proto_path=. --go_out=. --go_opt=paths=source_relative pulsarfake_api.proto
gofmt -w pulsarfake_api.pb.go
