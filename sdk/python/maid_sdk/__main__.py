"""The maid runner: `python3 -m maid_sdk`.

Reads one boot line from stdin (see docs/protocol.md, section 0), then runs
the plugin's entry script as __main__. Backends may start the runner ahead of
time (warm pools): it waits here with CPython up and the SDK imported.

The wasm backend imports this module ahead of time instead (maid_prepare in
scripts/wasm/maid_entry.c), snapshots the interpreter, and calls serve() in
every instance started from the snapshot.
"""
import _imp
import io as _io
import json
import marshal as _marshal
import os
import pkgutil  # noqa: F401  runpy.run_path imports it lazily; a warm pool should pay that before the boot line
import runpy
import sys
from importlib import _bootstrap_external

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
    # Vendored pure-Python packages (docs/plugin-format.md): right after the
    # plugin's own files and before the stdlib, as pip's site-packages would
    # be for a program run from its folder. Same on every backend.
    lib = os.path.join(root, "lib")
    if os.path.isdir(lib):
        sys.path.insert(1, lib)
    sys.argv = [path]
    try:
        _run_entry(path)
    except ModuleNotFoundError as e:
        _fail(_UNAVAILABLE_HINT.format(name=e.name) + " (%s)" % e)


def _run_entry(path):
    """Run the entry script as __main__, like runpy.run_path.

    Where the wasm backend offers compiled plugin code (serve() set
    sys.pycache_prefix), the script's bytecode comes from there as an
    imported module's would: SourceFileLoader reads the cached pyc and
    compiles the source only when there is none. Elsewhere nothing changes.
    """
    if sys.pycache_prefix != _PYCACHE_PREFIX or not path.endswith(".py"):
        runpy.run_path(path, run_name="__main__")
        return
    code = _served_code(path)
    if code is None:
        from importlib.machinery import SourceFileLoader

        code = SourceFileLoader("__main__", path).get_code("__main__")
    # What run_path does with a plain script's code (same globals, argv[0]).
    runpy._run_module_code(code, None, "__main__", pkg_name="", script_name=path)


def _served_code(path):
    """The entry script's code from the backend's compiled files, or None.

    What SourceFileLoader.get_code finds there, without its generic steps:
    the backend only ever serves unchecked hash-based pycs of this
    interpreter (sandbox/wasm/pyc.go), so the header check below is the
    whole validation. Anything else (no pyc: the source did not compile, or
    every compiler was busy) is left to SourceFileLoader. Each step of
    Python run at start-up writes to pages of the snapshot (reference counts),
    which is what a cold start mostly pays for.
    """
    if sys.flags.optimize:
        return None  # importlib would look for an opt- pyc, never served
    pyc = _PYCACHE_PREFIX + path[:-3] + _PYC_SUFFIX
    try:
        with _io.open(pyc, "rb", buffering=0) as f:
            data = f.read()
    except OSError:
        return None
    if data[:4] != _MAGIC or data[4:8] != b"\x01\x00\x00\x00":
        return None
    code = _marshal.loads(memoryview(data)[16:])
    _imp._fix_co_filename(code, path)
    return code


# A plugin shaped like the ones users write, for prepare().
_WARM_UP_PLUGIN = """
from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_event("message_create")
def on_message(ctx, event):
    author = event.get("author") or {}
    text = f"hello {author.get('username', 'someone')}: {len(event.get('content', ''))}"
    if text.startswith("hello"):
        return None


@plugin.on_dashboard("stats")
def stats(ctx, params):
    items = [{"label": str(i), "value": i * 2} for i in range(int(params.get("n", 3)))]
    return {"value": sum(item["value"] for item in items), "items": items}
"""


def prepare(rounds=64, claim_stdio=True):
    """Warm the interpreter up before the wasm backend snapshots it.

    Work CPython does lazily the first time (the compiler's state: about 3 ms
    in wasm for the first compile()) and the specialization of hot SDK code
    would otherwise be paid by every instance started from the snapshot.
    Compiling a typical plugin and serving it events and dashboard calls over
    in-memory streams makes that part of the snapshot. Neither real stream
    is read or written; with claim_stdio the SDK takes them for the protocol
    (_transport.claim_stdio), which every instance would do first.
    """
    import gc
    import io

    from maid_sdk.plugin import PROTOCOL_VERSION

    ns = {"__name__": "maid_warm_up"}
    exec(compile(_WARM_UP_PLUGIN, "<maid warm-up>", "exec"), ns)
    msgs = [{"jsonrpc": "2.0", "id": 1,
             "result": {"protocol": PROTOCOL_VERSION, "plugin_id": "warm-up", "limits": {}}}]
    ctx = {"server_id": "1", "options": {}}
    for i in range(rounds):
        msgs.append({"jsonrpc": "2.0", "id": 2 * i + 2, "method": "plugin.event", "params": {
            "type": "message_create", "call": "w%d" % i, "ctx": ctx,
            "event": {"id": str(i), "content": "hi", "channel_id": "2",
                      "author": {"id": "3", "username": "maid"}}}})
        msgs.append({"jsonrpc": "2.0", "id": 2 * i + 3, "method": "plugin.dashboard", "params": {
            "handler": "stats", "call": "d%d" % i, "ctx": ctx, "params": {"n": 3}}})
    inp = io.BytesIO(b"".join(json.dumps(m).encode() + b"\n" for m in msgs))
    out = io.BytesIO()
    code = ns["plugin"]._serve(inp, out)
    replies = [json.loads(x) for x in out.getvalue().splitlines()[1:]]  # after maid.hello
    failed = [r for r in replies if "result" not in r]
    if code != 0 or len(replies) != 2 * rounds or failed:
        raise RuntimeError("maid runner warm-up: exit %r, %d replies, first failure %.200r"
                           % (code, len(replies), failed[:1]))
    if claim_stdio:
        # Once here instead of in every instance: it reads and writes
        # nothing, and the stream objects it keeps are the same in each
        # (fd 0 and 1 are each instance's own pipes). About 40 pages
        # fewer written per start.
        _transport.claim_stdio()
    gc.collect()
    # Every instance maps the snapshot copy-on-write: a collection walking
    # the start-up objects would write their GC headers and copy most of
    # the heap's pages into each instance. Frozen objects are never walked.
    gc.freeze()


# Where the wasm backend serves compiled code for the plugin's files (and the
# SDK's), compiled by the host in an interpreter that runs no plugin code:
# plugin dirs are read-only, so without it every start compiled the plugin.
_PYCACHE_PREFIX = "/maid/pyc"
# How importlib names a source's compiled file (cache_from_source), and the
# header its pycs start with.
_PYC_SUFFIX = "." + sys.implementation.cache_tag + ".pyc"
_MAGIC = _bootstrap_external.MAGIC_NUMBER


def serve():
    """Run the runner in an interpreter restored from a snapshot."""
    # Set here, after the snapshot: the prepared interpreter imported
    # everything it needs the usual way.
    sys.pycache_prefix = _PYCACHE_PREFIX
    # Anything seeded while the snapshot was taken would be shared by every
    # instance started from it: reseed from the host's randomness.
    rnd = sys.modules.get("random")
    if rnd is not None:
        rnd.seed()
    code = 0
    try:
        _boot()
    except SystemExit as e:
        code = _exit_status(e.code)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    _exit_now(code)


def _exit_status(code):
    """The exit status Python gives SystemExit(code)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(str(code) + "\n")
    return 1


def _exit_now(code):
    """Exit without finalizing the interpreter.

    The instance maps the snapshot copy-on-write: Py_FinalizeEx tears down
    every module and object, writing to most of the snapshot's pages, so each
    exiting instance would copy megabytes just before its memory is freed;
    stopping 10,000 idle instances at once took gigabytes that way. atexit
    handlers still run, and the streams are flushed.
    """
    import atexit

    atexit._run_exitfuncs()
    for f in (sys.stdout, sys.stderr, _transport._out):
        try:
            if f is not None:
                f.flush()
        except Exception:
            pass
    os._exit(code)


if __name__ == "__main__":
    _boot()
