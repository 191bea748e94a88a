"""The maid runner: `python3 -m maid_sdk`.

Reads one boot line from stdin (see docs/protocol.md, section 0), then runs
the plugin's entry script as __main__. Backends may start the runner ahead of
time (warm pools): it waits here with CPython up and the SDK imported.

The wasm backend imports this module ahead of time instead (maid_prepare in
scripts/wasm/maid_entry.c), snapshots the interpreter, and calls serve() in
every instance started from the snapshot.
"""
import json
import os
import pkgutil  # noqa: F401  runpy.run_path imports it lazily; a warm pool should pay that before the boot line
import runpy
import sys

from maid_sdk import _transport

# Modules that sandboxed builds lack; named so a plugin author sees why.
_UNAVAILABLE_HINT = (
    "module {name!r} is not available in this sandbox (the wasm backend has no "
    "threads, subprocesses, sockets, ssl or ctypes); use the maid host APIs instead"
)


def _fail(msg):
    sys.stderr.write("maid runner: " + msg + "\n")
    sys.stderr.flush()
    sys.exit(1)


def _boot():
    _transport.claim_stdio()
    line = _transport.stdin().readline(1 << 27)
    if not line:
        _fail("no boot line on stdin")
    try:
        boot = json.loads(line)
        entry = boot["entry"]
    except (ValueError, KeyError, TypeError) as e:
        _fail("bad boot line: %s" % e)
    if "files" in boot:
        # Only this path needs them; importing lazily keeps boot fast on wasm.
        import base64
        import io
        import tempfile
        import zipfile

        root = tempfile.mkdtemp(prefix="plugin-")
        data = base64.b64decode(boot["files"])
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                name = os.path.normpath(info.filename)
                if name.startswith("..") or os.path.isabs(name):
                    _fail("unsafe path in plugin files: %r" % info.filename)
            zf.extractall(root)
    else:
        root = boot["dir"]
    path = os.path.normpath(os.path.join(root, entry))
    if not path.startswith(os.path.normpath(root) + os.sep) or not os.path.isfile(path):
        _fail("entry script %r not found in the plugin" % entry)
    os.chdir(root)
    sys.path.insert(0, root)
    sys.argv = [path]
    try:
        runpy.run_path(path, run_name="__main__")
    except ModuleNotFoundError as e:
        _fail(_UNAVAILABLE_HINT.format(name=e.name) + " (%s)" % e)


def serve():
    """Run the runner in an interpreter restored from a snapshot."""
    # Anything seeded while the snapshot was taken would be shared by every
    # instance started from it: reseed from the host's randomness.
    rnd = sys.modules.get("random")
    if rnd is not None:
        rnd.seed()
    _boot()


if __name__ == "__main__":
    _boot()
