# maid — see README.md. `make run` starts the system on the embedded defaults;
# `make test` runs vet and every test (what CI runs); `make check` adds
# format, lint and a short fuzzing pass.
GO        ?= go
BIN       ?= bin/maid
PYTHON    ?= python3
GOTESTFLAGS ?= -race -timeout 30m
# Pinned lint tool, fetched through the Go module proxy on first use.
# staticcheck 2025.1.1, by its module's semver tag (what the proxy serves).
STATICCHECK_VERSION ?= v0.6.1
FUZZTIME  ?= 5s

.PHONY: all build run test test-deps test-go test-python fuzz-short fuzz check lint fmt-check bench stress clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/maid

run: build python-wasm
	$(BIN) serve

# Fuzz corpora (seeds and every crasher kept in testdata/fuzz) replay in
# test-go on every run; exploring for new inputs is random, so it lives in
# `make check` and `make fuzz`, never in the gate CI runs.
test: test-deps test-go test-python

# What the tests run on: python.wasm always; the plugin image when a Docker
# engine answers (or under CI, where its absence must fail the run).
test-deps: python-wasm
	@if [ -n "$$CI" ] || docker info >/dev/null 2>&1; then $(MAKE) docker-image; \
	 else echo "note: no Docker engine; docker backend tests will skip (they fail under CI=true)"; fi

test-go:
	$(GO) vet ./...
	$(GO) test $(GOTESTFLAGS) ./...

test-python:
	cd sdk/python && $(PYTHON) -m unittest discover -s tests
	@# The examples' own tests, with maid_sdk.testing as a plugin author runs them.
	@set -e; for d in sdk/examples/*/tests; do [ -d "$$d" ] || continue; echo "example tests: $$d"; \
	  PYTHONPATH=$(CURDIR)/sdk/python $(PYTHON) -m unittest discover -s "$$d"; done

# Every Fuzz* target, briefly (longer: make fuzz FUZZTIME=5m). Fuzz workers
# write temp files per input: tmpfs keeps them from being I/O bound.
FUZZ_TMPDIR ?= $(shell [ -w /dev/shm ] && echo /dev/shm || echo /tmp)
fuzz-short:
	@set -e; export TMPDIR=$(FUZZ_TMPDIR); for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg >/dev/null || { $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; exit 1; }; \
	  done; \
	done

fuzz:
	$(MAKE) fuzz-short FUZZTIME=5m

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

lint:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

check: fmt-check lint test fuzz-short

clean:
	rm -rf bin build/go-cache

-include mk/*.mk
