"""In-process tests of the SDK's parts: error mapping, the socket-free event
loop, the connection, and a scripted conversation with Plugin._serve."""
import ast
import asyncio
import contextlib
import io
import json
import os
import socket
import sys
import unittest
from unittest import mock

# Importable whatever the working directory (make runs from sdk/python).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import maid_sdk  # noqa: E402
from maid_sdk import _aio, _conn, errors  # noqa: E402
from maid_sdk.context import Context  # noqa: E402

PKG_DIR = os.path.dirname(maid_sdk.__file__)


def line(msg):
    return json.dumps(msg).encode() + b"\n"


def hello_reply(max_line=1 << 20):
    return line({"jsonrpc": "2.0", "id": 1, "result": {
        "protocol": 1, "plugin_id": "p1", "host_version": "0.1.0",
        "limits": {"max_line_bytes": max_line}}})


def sent(writer):
    return [json.loads(x) for x in writer.getvalue().splitlines()]


class ErrorMappingTest(unittest.TestCase):
    def test_codes(self):
        cases = [
            {"name": "parse", "code": -32700, "cls": errors.ProtocolError},
            {"name": "invalid request", "code": -32600, "cls": errors.ProtocolError},
            {"name": "method", "code": -32601, "cls": errors.MethodNotFound},
            {"name": "params", "code": -32602, "cls": errors.InvalidParams},
            {"name": "internal", "code": -32603, "cls": errors.HostError},
            {"name": "capability", "code": -32000, "cls": errors.CapabilityError},
            {"name": "limit", "code": -32001, "cls": errors.LimitError},
            {"name": "timeout", "code": -32002, "cls": errors.MaidTimeoutError},
            {"name": "not found", "code": -32003, "cls": errors.NotFoundError},
            {"name": "scope", "code": -32005, "cls": errors.ScopeError},
            {"name": "discord", "code": -32006, "cls": errors.DiscordError},
            {"name": "incompatible", "code": -32010, "cls": errors.ProtocolError},
            {"name": "closed", "code": -32011, "cls": errors.ProtocolError},
            {"name": "unknown", "code": -1, "cls": errors.MaidError},
        ]
        for c in cases:
            with self.subTest(c["name"]):
                e = errors.from_rpc_error({"code": c["code"], "message": "m", "data": {"field": "key"}})
                self.assertIs(type(e), c["cls"])
                self.assertEqual(e.code, c["code"])
                self.assertEqual(e.message, "m")
                self.assertEqual(e.field, "key")
                self.assertEqual(str(e), "m (field key)")
                self.assertIsInstance(e, maid_sdk.MaidError)

    def test_malformed_error_objects(self):
        cases = [
            {"name": "not an object", "err": "boom", "cls": errors.ProtocolError},
            {"name": "no code", "err": {"message": "x"}, "cls": errors.MaidError},
            {"name": "no message", "err": {"code": -32000}, "cls": errors.CapabilityError},
        ]
        for c in cases:
            with self.subTest(c["name"]):
                e = errors.from_rpc_error(c["err"])
                self.assertIs(type(e), c["cls"])
                self.assertTrue(str(e))

    def test_exports(self):
        self.assertIs(maid_sdk.TimeoutError, maid_sdk.MaidTimeoutError)
        self.assertNotIn("TimeoutError", maid_sdk.__all__)
        for name in maid_sdk.__all__:
            self.assertTrue(hasattr(maid_sdk, name), name)
        self.assertEqual(maid_sdk.__version__, "0.5.1")


class SandboxSafetyTest(unittest.TestCase):
    FORBIDDEN = {"socket", "_socket", "select", "selectors", "threading", "_thread", "subprocess",
                 "signal", "multiprocessing", "concurrent", "ssl", "ctypes"}

    # Imported inside a function, on a path the wasm backend never takes:
    # the docker backend's socket data path (MAID_PROTOCOL_SOCKET set).
    LAZY_OK = {("_transport.py", "_socket")}

    def test_sdk_imports_nothing_the_wasi_build_lacks(self):
        for name in sorted(os.listdir(PKG_DIR)):
            if not name.endswith(".py"):
                continue
            with self.subTest(name):
                with open(os.path.join(PKG_DIR, name)) as f:
                    tree = ast.parse(f.read())
                lazy = set()
                for fn in ast.walk(tree):
                    if isinstance(fn, ast.FunctionDef):
                        lazy.update(id(n) for n in ast.walk(fn))
                for node in ast.walk(tree):
                    if isinstance(node, ast.Import):
                        mods = [a.name for a in node.names]
                    elif isinstance(node, ast.ImportFrom):
                        mods = [node.module or ""]
                    else:
                        continue
                    for m in mods:
                        if id(node) in lazy and (name, m) in self.LAZY_OK:
                            continue
                        self.assertNotIn(m.split(".")[0], self.FORBIDDEN, "%s imports %s" % (name, m))


class EventLoopTest(unittest.TestCase):
    def setUp(self):
        self.addCleanup(_aio.close)

    def test_runs_asyncio_without_sockets(self):
        async def work():
            async def twice(x):
                await asyncio.sleep(0.001)
                return 2 * x
            r = await asyncio.gather(twice(1), twice(2), asyncio.sleep(0.01, "s"))
            try:
                await asyncio.wait_for(asyncio.sleep(5), timeout=0.01)
            except asyncio.TimeoutError:
                r.append("timeout")
            r.append(type(asyncio.get_running_loop()).__name__)
            return r

        def no_socket(*a, **k):
            raise AssertionError("the loop must not create sockets")

        with mock.patch.object(socket, "socketpair", no_socket), \
                mock.patch.object(socket.socket, "__init__", no_socket):
            self.assertEqual(_aio.run(work()), [2, 4, "s", "timeout", "MaidEventLoop"])
            self.assertEqual(_aio.run(work())[:2], [2, 4])  # the loop is reused

    def test_exception_propagates(self):
        async def fail():
            await asyncio.sleep(0)
            raise KeyError("k")

        with self.assertRaises(KeyError):
            _aio.run(fail())

    def test_stall_is_detected_and_task_cleaned_up(self):
        cleaned = []

        async def stall():
            try:
                await asyncio.get_running_loop().create_future()
            finally:
                cleaned.append(True)

        with self.assertRaisesRegex(RuntimeError, "can never happen"):
            _aio.run(stall())
        self.assertEqual(cleaned, [True])

    def test_close_cancels_leftover_tasks(self):
        cancelled = []

        async def background():
            try:
                await asyncio.sleep(100)
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        async def spawn():
            asyncio.get_running_loop().create_task(background())
            await asyncio.sleep(0)

        _aio.run(spawn())
        _aio.close()
        self.assertEqual(cancelled, [True])

    def test_drive_without_asyncio_loop(self):
        async def inner():
            await asyncio.sleep(0)  # a bare yield, no loop needed
            return 21

        async def outer():
            return 2 * await inner()

        self.assertEqual(_aio.drive(outer()), 42)

        async def needs_loop():
            await asyncio.get_event_loop().create_future()

        with self.assertRaisesRegex(RuntimeError, "needs asyncio"):
            _aio.drive(needs_loop())


class ConnectionTest(unittest.TestCase):
    def test_request_queues_host_requests(self):
        host_req = {"jsonrpc": "2.0", "id": "h1", "method": "plugin.event", "params": {}}
        r = io.BytesIO(line(host_req) + line({"jsonrpc": "2.0", "id": 99, "result": 1})
                       + line({"jsonrpc": "2.0", "id": 1, "result": {"ok": True}}))
        w = io.BytesIO()
        c = _conn.Connection(r, w)
        with contextlib.redirect_stderr(io.StringIO()) as err:
            self.assertEqual(c.request("kv.get", {"key": "é"}), {"ok": True})
        self.assertIn("unknown id 99", err.getvalue())
        self.assertEqual(w.getvalue(), '{"jsonrpc":"2.0","id":1,"method":"kv.get","params":{"key":"é"}}\n'.encode())
        self.assertEqual(c.next_incoming(), host_req)
        self.assertIsNone(c.next_incoming())
        self.assertTrue(c.closed)

    def test_request_errors(self):
        cases = [
            {"name": "host error", "input": line({"jsonrpc": "2.0", "id": 1, "error": {
                "code": -32001, "message": "quota"}}), "exc": errors.LimitError},
            {"name": "eof", "input": b"", "exc": errors.ProtocolError},
            {"name": "not json", "input": b"{nope\n", "exc": _conn.Fatal},
            {"name": "oversize", "input": b'"' + b"x" * 200 + b'"\n', "exc": _conn.Fatal},
        ]
        for c in cases:
            with self.subTest(c["name"]):
                conn = _conn.Connection(io.BytesIO(c["input"]), io.BytesIO(), max_line_bytes=100)
                with self.assertRaises(c["exc"]):
                    conn.request("kv.get", {"key": "k"})

    def test_line_limits(self):
        limit = 50
        cases = [
            {"name": "exactly the limit", "size": limit, "ok": True},
            {"name": "one over", "size": limit + 1, "ok": False},
        ]
        for c in cases:
            with self.subTest(c["name"]):
                body = json.dumps("x" * (c["size"] - 2)).encode()
                self.assertEqual(len(body), c["size"])
                conn = _conn.Connection(io.BytesIO(body + b"\n"), io.BytesIO(), max_line_bytes=limit)
                if c["ok"]:
                    self.assertEqual(conn.read(), "x" * (c["size"] - 2))
                    conn.check_size(body)
                else:
                    with self.assertRaises(_conn.Fatal):
                        conn.read()
                    with self.assertRaises(errors.LimitError):
                        conn.check_size(body)

    def test_unencodable_params(self):
        conn = _conn.Connection(io.BytesIO(), io.BytesIO())
        with self.assertRaisesRegex(errors.InvalidParams, "kv.set: params are not JSON"):
            conn.request("kv.set", {"value": {1, 2}})

    def test_lone_surrogate_is_escaped(self):
        w = io.BytesIO()
        _conn.Connection(io.BytesIO(), w).send({"s": "a\udc80"})
        self.assertEqual(json.loads(w.getvalue()), {"s": "a\udc80"})

    def test_write_to_closed_pipe(self):
        class Broken(io.BytesIO):
            def write(self, b):
                raise BrokenPipeError(32, "Broken pipe")

        conn = _conn.Connection(io.BytesIO(), Broken())
        with self.assertRaises(errors.ProtocolError) as cm:
            conn.send({})
        self.assertEqual(cm.exception.code, errors.CLOSED)
        self.assertTrue(conn.closed)


class ServeTest(unittest.TestCase):
    """Plugin._serve over in-memory streams: the whole conversation is
    scripted up front, which works because the SDK is single-threaded."""

    def serve(self, plugin, host_lines):
        w = io.BytesIO()
        with contextlib.redirect_stderr(io.StringIO()) as err:
            code = plugin._serve(io.BytesIO(b"".join(host_lines)), w)
        return code, sent(w), err.getvalue()

    def test_scripted_conversation(self):
        plugin = maid_sdk.Plugin()
        seen = []

        @plugin.on_dashboard("get")
        def get(ctx, params):
            seen.append(("get", ctx.discord_srv_id, ctx.plugin_id))
            return {"v": ctx.kv.get("k")}

        @plugin.on_event("message_create")
        async def on_message(ctx, event):
            await asyncio.sleep(0)
            seen.append(("event", event["content"]))

        ctx = {"discord_srv_id": "7", "options": {}}
        code, out, err = self.serve(plugin, [
            hello_reply(),
            line({"jsonrpc": "2.0", "id": "A", "method": "plugin.dashboard",
                  "params": {"call": "cA", "ctx": ctx, "handler": "get", "params": {}}}),
            # arrives while A waits for kv.get (id 2): queued
            line({"jsonrpc": "2.0", "id": "B", "method": "plugin.event",
                  "params": {"call": "cB", "ctx": ctx, "type": "message_create",
                             "event": {"content": "hi"}}}),
            line({"jsonrpc": "2.0", "id": 2, "result": {"value": "val", "found": True}}),
            line({"jsonrpc": "2.0", "id": "S", "method": "plugin.shutdown", "params": {}}),
            line({"jsonrpc": "2.0", "id": "late", "method": "plugin.event", "params": {}}),
        ])
        self.assertEqual(code, 0, err)
        self.assertEqual([m.get("method") or m["id"] for m in out],
                         ["maid.hello", "kv.get", "A", "B", "S"])
        self.assertEqual(out[1]["params"], {"key": "k", "call": "cA"})
        self.assertEqual(out[2]["result"], {"v": "val"})
        self.assertEqual(seen, [("get", "7", "p1"), ("event", "hi")])
        self.assertEqual(plugin.plugin_id, "p1")
        self.assertEqual(plugin.limits, {"max_line_bytes": 1 << 20})
        _aio.close()

    def test_exit_codes(self):
        cases = [
            {"name": "eof after hello", "lines": [hello_reply()], "code": 0},
            {"name": "eof before hello", "lines": [], "code": 1},
            {"name": "bad json", "lines": [hello_reply(), b"nope\n"], "code": 1},
            {"name": "refused", "lines": [line({"jsonrpc": "2.0", "id": 1, "error": {
                "code": -32010, "message": "incompatible"}})], "code": 1},
        ]
        for c in cases:
            with self.subTest(c["name"]):
                code, _, _ = self.serve(maid_sdk.Plugin(), c["lines"])
                self.assertEqual(code, c["code"])


class RunnerPrepareTest(unittest.TestCase):
    """prepare() runs before the wasm backend's snapshot: it must work
    through the SDK's whole dispatch path and leave the real streams and the
    runner's state alone."""

    def test_prepare_touches_no_stream(self):
        import maid_sdk.__main__ as runner
        from maid_sdk import _transport

        before = (sys.stdin, sys.stdout, _transport._out, _transport._in)
        with mock.patch.object(sys.stdout, "write", side_effect=AssertionError("stdout written")):
            runner.prepare(rounds=3, claim_stdio=False)
        self.assertEqual(before, (sys.stdin, sys.stdout, _transport._out, _transport._in))

    def test_prepare_claims_stdio(self):
        """For the snapshot, the streams are claimed once, not per start."""
        import maid_sdk.__main__ as runner
        from maid_sdk import _transport

        with mock.patch.object(_transport, "claim_stdio") as claim:
            runner.prepare(rounds=1)
        claim.assert_called_once_with()

    def test_prepare_fails_loudly(self):
        import maid_sdk.__main__ as runner

        with mock.patch.object(runner, "_WARM_UP_PLUGIN", "from maid_sdk import Plugin\nplugin = Plugin()\n"):
            with self.assertRaisesRegex(RuntimeError, "warm-up"):
                runner.prepare(rounds=1)


class RunnerEntryTest(unittest.TestCase):
    """_run_entry runs the entry script as runpy.run_path would, from the
    backend's compiled code when sys.pycache_prefix offers it (wasm)."""

    def run_entry(self, prefix, compiled_source=None, mode=None, loader_used=None):
        import importlib.util
        import py_compile
        import tempfile

        import maid_sdk.__main__ as runner

        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "main.py")
            with open(path, "w") as f:
                f.write("import sys\nsys.modules['maid_sdk'].entry_seen = (1, __name__, __file__)\n")
            pyc_prefix = os.path.join(d, "pyc") if prefix else None
            with mock.patch.object(sys, "pycache_prefix", pyc_prefix), \
                    mock.patch.object(runner, "_PYCACHE_PREFIX", os.path.join(d, "pyc")):
                if compiled_source is not None:
                    src = os.path.join(d, "other.py")
                    with open(src, "w") as f:
                        f.write(compiled_source)
                    cfile = importlib.util.cache_from_source(path)
                    py_compile.compile(src, cfile=cfile, dfile=path,
                                       invalidation_mode=mode or py_compile.PycInvalidationMode.UNCHECKED_HASH)
                maid_sdk.entry_seen = None
                from importlib import machinery

                with mock.patch.object(machinery, "SourceFileLoader", wraps=machinery.SourceFileLoader) as loader:
                    runner._run_entry(path)
                if loader_used is not None:
                    loader_used.append(loader.called)
            return maid_sdk.entry_seen, path

    def test_plain(self):
        for prefix in (False, True):
            with self.subTest(prefix=prefix):
                seen, path = self.run_entry(prefix)
                self.assertEqual(seen, (1, "__main__", path))

    def test_compiled_code_is_used(self):
        seen, path = self.run_entry(True, "import sys\nsys.modules['maid_sdk'].entry_seen = (2, __name__, __file__)\n")
        self.assertEqual(seen, (2, "__main__", path))

    def test_compiled_code_is_read_directly(self):
        """The backend's unchecked pyc is loaded without importlib's loader."""
        used = []
        seen, path = self.run_entry(True, "import sys\nsys.modules['maid_sdk'].entry_seen = (2, __name__, __file__)\n",
                                    loader_used=used)
        self.assertEqual((seen, used), ((2, "__main__", path), [False]))

    def test_other_pycs_are_left_to_importlib(self):
        """A pyc the backend would not serve (timestamp-checked, here stale
        against the source) goes through SourceFileLoader's checks."""
        import py_compile

        used = []
        seen, path = self.run_entry(True, "import sys\nsys.modules['maid_sdk'].entry_seen = (2, __name__, __file__)  # longer\n",
                                    mode=py_compile.PycInvalidationMode.TIMESTAMP, loader_used=used)
        self.assertEqual((seen, used), ((1, "__main__", path), [True]))


class RegistrationTest(unittest.TestCase):
    def test_errors(self):
        plugin = maid_sdk.Plugin()

        @plugin.on_event("message_create")
        def a(ctx, event):
            pass

        with self.assertRaisesRegex(ValueError, "already has a handler"):
            plugin.on_event("message_create")(a)
        with self.assertRaises(TypeError):
            plugin.on_dashboard("")
        with self.assertRaises(TypeError):
            plugin.on_command(None)
        with self.assertRaises(TypeError):
            plugin.on_command("x")("not callable")
        # The same name in different tables is fine.
        plugin.on_dashboard("message_create")(a)
        self.assertIs(plugin.on_command("ping")(a), a)


class ContextValidationTest(unittest.TestCase):
    class RecordingConn:
        def __init__(self):
            self.calls = []

        def request(self, method, params):
            self.calls.append((method, params))
            return {}

    def test_bad_arguments_fail_before_sending(self):
        conn = self.RecordingConn()
        ctx = Context(conn, "tok", {"discord_srv_id": "1"})
        cases = [
            {"name": "kv key not str", "fn": lambda: ctx.kv.get(5), "field": "key"},
            {"name": "get_many str", "fn": lambda: ctx.kv.get_many("abc"), "field": "keys"},
            {"name": "set_many key", "fn": lambda: ctx.kv.set_many({1: 2}), "field": "values"},
            {"name": "sql params str", "fn": lambda: ctx.sql.query("x", "abc"), "field": "params"},
            {"name": "no content", "fn": lambda: ctx.discord.send_message("1"), "field": "content"},
            {"name": "bad channel", "fn": lambda: ctx.discord.send_message(None, "x"),
             "field": "channel_id"},
            {"name": "bool id", "fn": lambda: ctx.discord.add_role(True, "1"), "field": "user_id"},
            {"name": "reply non-dict", "fn": lambda: ctx.discord.reply("m", "x"), "field": "message"},
        ]
        for c in cases:
            with self.subTest(c["name"]):
                with self.assertRaises(errors.InvalidParams) as cm:
                    c["fn"]()
                self.assertEqual(cm.exception.field, c["field"])
        self.assertEqual(conn.calls, [])

    def test_context_fields(self):
        ctx = Context(self.RecordingConn(), "t", None, plugin_id="fallback")
        self.assertIsNone(ctx.discord_srv_id)
        self.assertEqual(ctx.plugin_id, "fallback")
        self.assertEqual(ctx.options, {})


if __name__ == "__main__":
    unittest.main()
