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
 *   maid_serve     run the runner (its serve(), found by maid_prepare): read
 *                  the boot line, run the plugin, then exit with the
 *                  plugin's status.
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

/* The runner's serve(), found by maid_prepare. */
static PyObject *serve_fn;

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
	/* Looked up now, so that it is in the snapshot: maid_serve calls it
	 * directly. Compiling and running a line of source there instead
	 * (PyRun_SimpleString) cost about 0.3 ms of each cold start, mostly
	 * pages of the snapshot the parser and compiler write. */
	PyObject *runner = PyImport_ImportModule("maid_sdk.__main__");
	serve_fn = runner ? PyObject_GetAttrString(runner, "serve") : NULL;
	Py_XDECREF(runner);
	if (serve_fn == NULL) {
		PyErr_Print();
		exit(1);
	}
	return 0;
}

__attribute__((export_name("maid_serve"))) int maid_serve(void) {
	/* Keeps the import (an unreferenced one is dropped by the linker);
	 * stopping here is as good as anywhere. */
	maid_yield();
	/* serve() ends in os._exit with the plugin's status. Should it raise
	 * instead, PyErr_Print exits with a SystemExit's status or prints
	 * the exception, as PyRun_SimpleString would. */
	int rc = 0;
	PyObject *res = PyObject_CallNoArgs(serve_fn);
	if (res == NULL) {
		PyErr_Print();
		rc = 1;
	}
	Py_XDECREF(res);
	if (Py_FinalizeEx() < 0) {
		rc = 120;
	}
	exit(rc);
}
