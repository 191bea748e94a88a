"""Compile one plugin source file to bytecode for the wasm backend's cache.

The wasm backend runs this as the "plugin" of a throwaway interpreter
started from its snapshot, which runs no plugin code (sandbox/wasm/pyc.go).
After the boot line, stdin holds the file's guest path on one line and then
its source; stdout gets an unchecked hash-based pyc of it. Exit status 1 with
nothing written: the source does not compile, and the plugin's own
interpreter compiles it and reports why.
"""
import _imp
import sys
from importlib import _bootstrap_external

from maid_sdk import _transport


def main():
    inp = _transport.stdin()
    path = inp.readline().rstrip(b"\n").decode("utf-8")
    source = inp.read()
    try:
        # What SourceFileLoader does for a plugin's module (no inherited
        # __future__ flags, the interpreter's optimization level).
        code = compile(source, path, "exec", dont_inherit=True)
    except Exception:
        sys.exit(1)
    data = _bootstrap_external._code_to_hash_pyc(
        code, _imp.source_hash(_bootstrap_external._RAW_MAGIC_NUMBER, source), checked=False)
    out = _transport.stdout()
    out.write(data)
    out.flush()


if __name__ == "__main__":
    main()
