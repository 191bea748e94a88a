# Benchmarks (docs/benchmarks.md).
#
#   make bench         every backend side by side: bench-out/results.{json,md}, *.svg
#   make bench-micro   go test benchmarks of the rpc codec/dispatcher and the
#                      engine call path, in benchstat format (bench-out/micro.txt)
#
# BENCH_FLAGS passes extra flags to `maid bench` (e.g. BENCH_FLAGS="--events 2000").
BENCH_OUT   ?= bench-out
BENCH_FLAGS ?=
BENCH_COUNT ?= 6

.PHONY: bench bench-micro

# The interpreter and the image first, so all three backends can run.
bench: python-wasm docker-image build
	$(BIN) bench --out $(BENCH_OUT) $(BENCH_FLAGS)

bench-micro:
	@mkdir -p $(BENCH_OUT)
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) ./rpc ./bench | tee $(BENCH_OUT)/micro.txt
