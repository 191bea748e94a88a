/*
 * maid_entry.c: entry points of maid-python.wasm, the WASI *reactor* build
 * of CPython that maid's wasm backend runs (sandbox/wasm). Linked by
 * scripts/build-python-wasm.sh from the same objects as python.wasm.
 *
 * Why a reactor: a command module's only entry is _start, which runs
 * main() to the end, so the interpreter's start-up can only be skipped by
 * keeping a started instance around (the warm pool). A reactor's exports
 * return to the host with the interpreter alive. The backend calls
 * maid_prepare once, takes a snapshot of linear memory and globals (the
 * wasm call stack is empty at that point, so that is the whole state), and
 * starts every later instance from the snapshot: CPython started, the maid
 * SDK imported, waiting for its boot line.
 *
 * Host protocol (see sandbox/wasm):
 *   _initialize    wasi-libc's constructors; once per instance, first.
 *   maid_main      python's own main() with the WASI args (`python -m ...`).
 *   maid_prepare(warm_up)
 *                  start CPython from the environment and import the runner
 *                  (maid_sdk.__main__), without touching stdin or stdout;
 *                  with warm_up != 0 also warm it up (prepare()) for a
 *                  snapshot.
 *   maid_serve     run the runner: read the boot line, run the plugin, then
 *                  finalize and exit with the plugin's status.
 * maid_main and maid_serve end in proc_exit; maid_prepare returns 0, or
 * exits non-zero after printing why.
 *
 * Import:
 *   maid.yield     () -> i32: the host's runaway check. The backend rewrites
 *                  the module so every loop counts down a budget and calls
 *                  this when it runs out (wasmbin.AddYield); the host stops
 *                  the guest there or returns a fresh budget. Declared here
 *                  so the linker gives it a function index; C never needs
 *                  to call it.
 */
#include "Python.h"

#include <stdlib.h>

__attribute__((import_module("maid"), import_name("yield"))) int maid_yield(void);

int __main_void(void);

__attribute__((export_name("maid_main"))) int maid_main(void) {
	exit(__main_void());
}

__attribute__((export_name("maid_prepare"))) int maid_prepare(int warm_up) {
	PyConfig config;
	PyConfig_InitPythonConfig(&config);
	char *argv[] = {"python", NULL};
	PyStatus status = PyConfig_SetBytesArgv(&config, 1, argv);
	if (!PyStatus_Exception(status)) {
		status = Py_InitializeFromConfig(&config);
	}
	PyConfig_Clear(&config);
	if (PyStatus_Exception(status)) {
		Py_ExitStatusException(status);
	}
	/* The warm-up only pays off for an instance that will be snapshotted. */
	const char *code = warm_up ? "import maid_sdk.__main__ as r\nr.prepare()"
	                           : "import maid_sdk.__main__";
	if (PyRun_SimpleString(code) != 0) {
		exit(1);
	}
	return 0;
}

__attribute__((export_name("maid_serve"))) int maid_serve(void) {
	/* Keeps the import (an unreferenced one is dropped by the linker);
	 * stopping here is as good as anywhere. */
	maid_yield();
	/* SystemExit (sys.exit in a plugin) exits inside PyRun_SimpleString
	 * with its status; any other uncaught exception was printed. */
	int rc = PyRun_SimpleString("import maid_sdk.__main__ as r\nr.serve()") != 0;
	if (Py_FinalizeEx() < 0) {
		rc = 120;
	}
	exit(rc);
}
