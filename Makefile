# unistream — the two set-up commands: `make demo` and `make test`.
GO       ?= go
PKGS     := ./...
# -race needs cgo; the machine has gcc.
export CGO_ENABLED := 1

.PHONY: demo test tools vet build bench bench-consumer bench-producer stress test-containers fuzz generate check-generated clean

## demo: run the main job (producer + consumer with retries, DLQ and checkpoints) on the embedded backend
# The lite tag leaves the AWS SDK (Kinesis, DynamoDB) out of the binary, so
# a fresh clone compiles the demo in well under a minute; `go run
# ./cmd/unistream demo --backend kinesis` runs the full build.
demo:
	$(GO) run -tags unistream_lite ./cmd/unistream demo

## test: check generated code is current, vet, and run every test with the race detector
test: tools check-generated vet
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

## tools: install the npm emulators the tests start (kinesalite, dynalite, pulsar-flex) into .tools/node (ignored)
NODE_TOOLS := .tools/node
NODE_PKGS  := kinesalite@3.3.3 dynalite@4.0.0 pulsar-flex@1.1.1
tools: $(NODE_TOOLS)/.installed
$(NODE_TOOLS)/.installed: Makefile
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 18+ and npm (apt-get install nodejs npm)"; exit 1; }
	mkdir -p $(NODE_TOOLS)
	npm install --prefix $(NODE_TOOLS) --no-audit --no-fund --loglevel=error $(NODE_PKGS)
	@touch $@

## generate: regenerate each adapter's zz_generated_*.go and docs/adapters.md from its adapter.yaml
generate:
	$(GO) run ./gen
	@if command -v protoc >/dev/null && command -v protoc-gen-go >/dev/null; then \
	  $(GO) generate ./adapters/pulsar/pulsarfake/...; \
	else \
	  echo "protoc or protoc-gen-go not found: pulsarfake's committed protobuf code was left as is (apt-get install protobuf-compiler; go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12)"; \
	fi

# check-generated: run the generator, then fail if that changed or added a
# generated file, so CI fails when a spec, template or generated file is
# edited without the others. Outside a git work tree, gen -check compares
# without writing.
GENERATED := '*zz_generated*' docs/adapters.md
check-generated:
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	  $(GO) run ./gen >/dev/null || exit 1; \
	  if ! git diff --quiet -- $(GENERATED); then \
	    git diff --stat -- $(GENERATED); \
	    echo "generated code is out of date: run make generate and commit"; exit 1; \
	  fi; \
	  untracked=$$(git ls-files --others --exclude-standard -- $(GENERATED)); \
	  if [ -n "$$untracked" ]; then \
	    echo "$$untracked"; \
	    echo "generated code is out of date: run make generate and commit (the files above are not tracked)"; exit 1; \
	  fi; \
	else \
	  $(GO) run ./gen -check || exit 1; \
	fi

vet:
	$(GO) vet $(PKGS)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi

build:
	$(GO) build $(PKGS)

## bench: the engine benchmarks (numbers go in the issue notes); the Kinesis ones start dynalite
bench: tools
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## bench-consumer: the consumer engine vs the plain clients with each checkpoint store (records/s, engine/plain, saves/record, allocs)
# Every store runs the same records: a durable store saves once per batch.
# BENCH_N sets the count.
BENCH_N ?= 400000
CONSUMER_BENCH_PKGS := ./stream ./adapters/kafka ./adapters/kinesis ./adapters/pulsar ./stream/checkpoint/postgres
bench-consumer: tools
	$(GO) test -run '^$$' -bench 'BenchmarkConsumer$$' -benchtime $(BENCH_N)x -benchmem $(CONSUMER_BENCH_PKGS)

## bench-producer: the producer engine vs the plain clients, with and without its WAL (records/s, engine/plain, engine/plainid: the plain client sending the engine's ID, and engine/plainlog: the plain client while the same records are written and fsynced every batch), and this disk's fsync latency
# Three runs each: the ratios swing with the machine's load. BENCH_N sets the count.
PRODUCER_BENCH_PKGS := ./stream ./adapters/kafka ./adapters/kinesis ./adapters/pulsar
bench-producer: tools
	$(GO) test -run '^$$' -bench 'BenchmarkProducer$$' -benchtime $(BENCH_N)x -count 3 $(PRODUCER_BENCH_PKGS)
	$(GO) test -run '^$$' -bench 'BenchmarkFsync$$' -count 3 ./stream/wal

## test-containers: the conformance suite on real brokers in Docker (the containers module; skips, saying why, without Docker)
test-containers:
	cd containers && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 60m ./...

## stress: the tests under load, as a newcomer's busy machine runs them: one CPU burner per core beside `go test -race -cpu 1,2 -count 3` (STRESS_PKGS, STRESS_RUN narrow it)
# A test that passes only on an idle machine fails here. The burners stop
# with the run, however it ends.
STRESS_PKGS ?= ./...
STRESS_RUN  ?= .
stress: tools
	@burners=""; \
	for i in $$(seq $$(nproc)); do sh -c 'while :; do :; done' & burners="$$burners $$!"; done; \
	trap 'kill $$burners 2>/dev/null' EXIT INT TERM; \
	$(GO) test -race -cpu 1,2 -count 3 -timeout 60m -run '$(STRESS_RUN)' $(STRESS_PKGS)

## fuzz: a short run of every fuzz target
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 15s $$pkg || exit 1; \
	  done; \
	done

clean:
	$(GO) clean -testcache

## conformance: run the conformance suite on every backend (UNISTREAM_TARGET, default embedded) and write conformance/REPORT.md
.PHONY: conformance
conformance:
	@out=$$(mktemp); \
	$(GO) test -race -count=1 -timeout 20m -json -run '^TestConformance(Kinesalite)?$$' $(PKGS) > $$out; status=$$?; \
	$(GO) run ./conformance/cmd/report -o conformance/REPORT.md $$out; rstatus=$$?; \
	rm -f $$out; \
	if [ $$status -ne 0 ]; then echo "conformance: some scenarios failed (or a test binary did not build); see conformance/REPORT.md"; exit $$status; fi; \
	exit $$rstatus
