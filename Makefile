# unistream — the two set-up commands: `make demo` and `make test`.
GO       ?= go
PKGS     := ./...
# -race needs cgo; the machine has gcc.
export CGO_ENABLED := 1

.PHONY: demo test vet build bench fuzz generate check-generated clean

## demo: run the main job (producer + consumer with retries, DLQ and checkpoints) on the embedded backend
demo:
	$(GO) run ./cmd/unistream demo

## test: vet, check generated code is current, and run every test with the race detector
test: vet
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

vet:
	$(GO) vet $(PKGS)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi

build:
	$(GO) build $(PKGS)

## bench: the engine benchmarks (numbers go in the issue notes)
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## fuzz: a short run of every fuzz target
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 15s $$pkg || exit 1; \
	  done; \
	done

clean:
	$(GO) clean -testcache
