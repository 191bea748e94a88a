# CPython for wasm32-wasi, used by the wasm sandbox backend (sandbox/wasm).
# Idempotent: the script exits at once when the output matches its inputs.
PYTHON_WASM_DIR ?= build/python-wasi
# Tests and `maid` find the interpreter here (sandbox/wasm reads it).
export MAID_PYTHON_WASM_DIR ?= $(abspath $(PYTHON_WASM_DIR))

.PHONY: python-wasm
python-wasm:
	PYTHON_WASM_DIR=$(PYTHON_WASM_DIR) scripts/build-python-wasm.sh
