"""The SDK driven over pipes by a fake host, as the maid host drives it:
`python3 -m maid_sdk`, boot line, handshake, then JSON-RPC both ways.

Every test runs twice: on plain CPython, and with what the WASI build lacks
(sockets, threads, subprocesses, select, signals) made unusable.
"""
import random
import unittest

from fakehost import FakeHost, HostCallError

PLUGIN = r'''
import asyncio
import sys

import maid_sdk
from maid_sdk import Context, LimitError, MaidError, Plugin

plugin = Plugin()
print("module-level print")


@plugin.on_event("message_create")
def on_message(ctx: Context, event: dict):
    ctx.kv.set("last:" + ctx.discord_srv_id, event["content"])
    ctx.metrics.increment("greetings", 2)
    return "ignored"


@plugin.on_event("guild_member_add")
async def on_join(ctx, event):
    await asyncio.sleep(0.01)
    ctx.kv.set("joined", event["user"]["id"])


@plugin.on_dashboard("echo")
def echo(ctx, params):
    return {"params": params, "srv": ctx.discord_srv_id, "plugin": ctx.plugin_id,
            "options": ctx.options}


@plugin.on_dashboard("read")
def read(ctx, params):
    return {"value": ctx.kv.get(params["key"]), "default": ctx.kv.get(params["key"], "dflt")}


@plugin.on_dashboard("kv_all")
def kv_all(ctx, params):
    ctx.kv.set_many({"a:1": 1, "a:2": [2], "b": {"x": None}})
    out = {
        "list": ctx.kv.list(prefix="a:"),
        "list_limit": ctx.kv.list(limit=1),
        "count": ctx.kv.count(prefix="a:"),
        "many": ctx.kv.get_many(["a:1", "b", "missing"]),
        "deleted": ctx.kv.delete("a:1"),
        "deleted_again": ctx.kv.delete("a:1"),
    }
    out["count_after"] = ctx.kv.count()
    return out


@plugin.on_dashboard("boom")
def boom(ctx, params):
    raise ValueError("boom " + params.get("why", ""))


@plugin.on_dashboard("catch")
def catch(ctx, params):
    try:
        ctx.kv.get("x")
    except MaidError as e:
        return {"type": type(e).__name__, "code": e.code, "message": e.message,
                "field": e.field, "bases": [c.__name__ for c in type(e).__mro__]}
    return {"type": None}


@plugin.on_dashboard("uncaught_host_error")
def uncaught_host_error(ctx, params):
    ctx.kv.get("x")


@plugin.on_dashboard("print")
def prt(ctx, params):
    print("printed", params.get("text"))
    sys.stdout.write("direct write\n")
    return {"ok": True}


@plugin.on_dashboard("input")
def read_input(ctx, params):
    return {"line": input()}


@plugin.on_dashboard("not_json")
def not_json(ctx, params):
    return {"s": {1, 2}}


@plugin.on_dashboard("nan")
def nan(ctx, params):
    return float("nan")


@plugin.on_dashboard("big")
def big(ctx, params):
    return {"blob": "x" * params["n"]}


@plugin.on_dashboard("big_set")
def big_set(ctx, params):
    try:
        ctx.kv.set("k", "x" * params["n"])
    except LimitError as e:
        return {"limit": str(e)}
    return {"limit": None}


@plugin.on_dashboard("bad_value")
def bad_value(ctx, params):
    try:
        ctx.kv.set("k", object())
    except maid_sdk.InvalidParams as e:
        return {"invalid": str(e)}


@plugin.on_dashboard("async")
async def async_handler(ctx, params):
    await asyncio.sleep(0.01)

    async def twice(x):
        await asyncio.sleep(0)
        return x * 2

    task = asyncio.create_task(twice(3))
    r = await asyncio.gather(twice(1), asyncio.sleep(0.01, "slept"), task)
    v = await asyncio.wait_for(twice(5), timeout=5)
    ctx.kv.set("from_async", v)
    return {"r": r, "v": v, "loop": type(asyncio.get_running_loop()).__name__}


@plugin.on_dashboard("async_timeout")
async def async_timeout(ctx, params):
    try:
        await asyncio.wait_for(asyncio.sleep(10), timeout=0.01)
    except asyncio.TimeoutError:
        return {"timed_out": True}
    return {"timed_out": False}


@plugin.on_dashboard("async_raise")
async def async_raise(ctx, params):
    await asyncio.sleep(0)
    raise KeyError("nope")


@plugin.on_dashboard("async_stall")
async def async_stall(ctx, params):
    await asyncio.get_running_loop().create_future()


@plugin.on_dashboard("asyncio_run")
def asyncio_run(ctx, params):
    async def main():
        await asyncio.sleep(0.01)
        return "ran"
    return {"result": asyncio.run(main())}


@plugin.on_dashboard("sql")
def sql(ctx, params):
    rows = ctx.sql.query("SELECT id, name FROM t WHERE id > ?", (0,))
    res = ctx.sql.execute("INSERT INTO t(name) VALUES (?)", ["c"])
    return {"rows": rows, "exec": res}


@plugin.on_dashboard("metrics")
def metrics(ctx, params):
    ctx.metrics.increment("hits")
    return {"query": ctx.metrics.query("messages", period="3d"),
            "total": ctx.metrics.total("hits", period="30d")}


@plugin.on_dashboard("discord")
def discord(ctx, params):
    d = ctx.discord
    sent = d.send_message("10", "hello", embeds=[{"title": "t"}])
    d.reply({"id": "55", "channel_id": "10", "content": "hi"}, "pong")
    d.edit_message(10, 20, "edited")
    d.delete_message("10", "20")
    d.add_reaction("10", "20", "ok")
    d.remove_reaction("10", "20", "ok")
    d.add_role("u1", "r1")
    d.remove_role(7, 8)
    member = d.get_member("u1")
    return {"sent": sent, "member": member}


@plugin.on_dashboard("log")
def log(ctx, params):
    ctx.log.info("info line")
    ctx.log.warning("warn line")
    ctx.log.error("error line")
    return {}


@plugin.on_command("ping")
def ping(ctx, interaction):
    return "pong " + interaction["user"]


@plugin.on_command("rich")
async def rich(ctx, interaction):
    return {"content": "rich", "ephemeral": True}


@plugin.on_command("quiet")
def quiet(ctx, interaction):
    return None


plugin.run()
print("run returned", file=sys.stderr)
'''

HOST_ERROR_CODES = [
    (-32700, "ProtocolError"),
    (-32600, "ProtocolError"),
    (-32601, "MethodNotFound"),
    (-32602, "InvalidParams"),
    (-32603, "HostError"),
    (-32000, "CapabilityError"),
    (-32001, "LimitError"),
    (-32002, "MaidTimeoutError"),
    (-32003, "NotFoundError"),
    (-32005, "ScopeError"),
    (-32006, "DiscordError"),
    (-32010, "ProtocolError"),
    (-32011, "ProtocolError"),
    (-31999, "MaidError"),
]


class ProtocolTest(unittest.TestCase):
    WASI_SHIM = False
    WASM = False

    def start(self, src=PLUGIN, **kw):
        h = FakeHost(src, wasi_shim=self.WASI_SHIM, wasm=self.WASM, **kw)
        self.addCleanup(h.kill)
        return h

    def ready(self, **kw):
        h = self.start()
        h.handshake(**kw)
        return h

    def assertResult(self, resp, want=None):
        self.assertNotIn("error", resp, resp)
        if want is not None:
            self.assertEqual(resp["result"], want)
        return resp["result"]

    def assertError(self, resp, code):
        self.assertIn("error", resp, resp)
        self.assertEqual(resp["error"]["code"], code, resp)
        return resp["error"]["message"]

    # -- handshake and lifecycle ---------------------------------------------

    def test_handshake(self):
        h = self.start()
        hello = h.handshake()
        self.assertEqual(hello["jsonrpc"], "2.0")
        self.assertEqual(hello["id"], 1)
        self.assertEqual(hello["method"], "maid.hello")
        p = hello["params"]
        self.assertEqual(p["protocol"], 1)
        self.assertEqual(p["sdk_version"], "0.5.1")
        self.assertEqual(p["events"], ["message_create", "guild_member_add"])
        self.assertEqual(p["dashboard"][:3], ["echo", "read", "kv_all"])
        self.assertIn("async", p["dashboard"])
        self.assertEqual(p["commands"], ["ping", "rich", "quiet"])

    def test_handshake_incompatible(self):
        cases = [
            {"name": "error -32010", "reply": {"error": {"code": -32010, "message": "protocol 1 unsupported"}},
             "want": "protocol 1 unsupported"},
            {"name": "other protocol", "reply": {"result": {"protocol": 2, "limits": {}}},
             "want": "protocol 2"},
            {"name": "result not an object", "reply": {"result": [1]}, "want": "want an object"},
        ]
        for c in cases:
            with self.subTest(c["name"]):
                h = self.start()
                hello = h.recv()
                msg = {"jsonrpc": "2.0", "id": hello["id"]}
                msg.update(c["reply"])
                h.send(msg)
                self.assertNotEqual(h.wait(), 0)
                self.assertIn(c["want"], h.stderr())

    def test_shutdown(self):
        h = self.ready()
        self.assertResult(h.call("plugin.shutdown", {}), {})
        self.assertEqual(h.proc.wait(20), 0)
        self.assertIsNone(h.recv())
        self.assertIn("run returned", h.stderr())

    def test_eof_exits_zero(self):
        h = self.ready()
        self.assertResult(h.dashboard("echo"))
        self.assertEqual(h.wait(), 0)
        self.assertIn("run returned", h.stderr())

    def test_eof_while_waiting_for_host(self):
        h = self.ready()
        h.request("plugin.dashboard", {"call": "t", "ctx": h.ctx(), "handler": "read",
                                       "params": {"key": "k"}})
        self.assertEqual(h.recv()["method"], "kv.get")
        h.close()  # the host goes away instead of answering
        self.assertIsNone(h.recv())
        self.assertEqual(h.proc.wait(20), 0)
        self.assertIn("connection to the host closed", h.stderr())

    def test_not_json_from_host_is_fatal(self):
        h = self.ready()
        h.send_raw("{this is not json")
        self.assertNotEqual(h.wait(), 0)
        self.assertIn("not JSON", h.stderr())

    def test_not_json_while_waiting_is_fatal(self):
        # A handler's `except Exception` must not swallow a broken stream.
        h = self.start(PLUGIN.replace(
            'def read(ctx, params):\n',
            'def read(ctx, params):\n    try:\n        ctx.kv.get("swallow")\n'
            '    except Exception:\n        pass\n'))
        h.handshake()
        h.request("plugin.dashboard", {"call": "t", "ctx": h.ctx(), "handler": "read",
                                       "params": {"key": "k"}})
        self.assertEqual(h.recv()["method"], "kv.get")
        h.send_raw("garbage")
        self.assertIsNone(h.recv())
        self.assertNotEqual(h.wait(), 0)
        self.assertIn("not JSON", h.stderr())

    def test_oversize_line_from_host_is_fatal(self):
        h = self.ready(limits={"max_line_bytes": 4096})
        h.request("plugin.dashboard", {"call": "t", "ctx": h.ctx(), "handler": "echo",
                                       "params": {"pad": "y" * 10000}})
        self.assertIsNone(h.recv())
        self.assertNotEqual(h.wait(), 0)
        self.assertIn("over the max line size of 4096", h.stderr())

    # -- dispatch ------------------------------------------------------------

    def test_event_dispatch(self):
        h = self.ready()
        resp = h.event("message_create", {"id": "9", "channel_id": "10", "content": "héllo"},
                       call="ev-1", ctx=h.ctx(server="42"))
        self.assertResult(resp, {})
        self.assertEqual(h.kv["last:42"], "héllo")
        self.assertEqual(h.metrics["greetings"], 2)
        self.assertEqual([c for c, _ in h.host_calls], ["kv.set", "metrics.increment"])
        self.assertTrue(all(p["call"] == "ev-1" for _, p in h.host_calls))
        # Raw UTF-8 on the wire, not \u escapes.
        self.assertTrue(any("héllo".encode() in line for line in h.raw_lines))

    def test_async_event(self):
        h = self.ready()
        self.assertResult(h.event("guild_member_add", {"user": {"id": "77"}}), {})
        self.assertEqual(h.kv["joined"], "77")

    def test_dashboard_ctx_and_params(self):
        h = self.ready()
        ctx = {"discord_srv_id": "5", "plugin_id": "welcome", "options": {"greet": True}}
        res = self.assertResult(h.dashboard("echo", {"discord_srv_id": "5", "page": 2}, ctx=ctx))
        self.assertEqual(res, {"params": {"discord_srv_id": "5", "page": 2}, "srv": "5",
                               "plugin": "welcome", "options": {"greet": True}})

    def test_dashboard_nested_host_calls(self):
        h = self.ready()
        h.kv["color"] = {"r": 1}
        res = self.assertResult(h.dashboard("read", {"key": "color"}, call="dash-7"))
        self.assertEqual(res, {"value": {"r": 1}, "default": {"r": 1}})
        res = self.assertResult(h.dashboard("read", {"key": "missing"}))
        self.assertEqual(res, {"value": None, "default": "dflt"})
        self.assertEqual(h.host_calls[0], ("kv.get", {"key": "color", "call": "dash-7"}))

    def test_kv_api(self):
        h = self.ready()
        res = self.assertResult(h.dashboard("kv_all"))
        self.assertEqual(res, {
            "list": ["a:1", "a:2"], "list_limit": ["a:1"], "count": 2,
            "many": {"a:1": 1, "b": {"x": None}}, "deleted": True, "deleted_again": False,
            "count_after": 2})
        self.assertIn(("kv.list", {"prefix": "", "limit": 1, "call": "tok-1"}), h.host_calls)

    def test_seed_does_not_outlive_its_call(self):
        # A call's seed is in its recording (a server's manager can
        # download it): the next call without a seed must not draw from
        # its stream (docs/security.md, recordings).
        h = self.start(src="""
            import random
            from maid_sdk import Plugin
            plugin = Plugin()

            @plugin.on_dashboard("draw")
            def draw(ctx, params):
                return {"v": random.random()}

            plugin.run()
        """)
        h.handshake()
        params = {"call": "c1", "ctx": h.ctx(), "handler": "draw", "params": {}, "seed": "s3cr3t"}
        first = self.assertResult(h.call("plugin.dashboard", params))
        r = random.Random("s3cr3t")
        self.assertEqual(first["v"], r.random())  # the seed is honoured
        unseeded = self.assertResult(h.call("plugin.dashboard", dict(params, call="c3", seed=None)))
        self.assertNotEqual(unseeded["v"], r.random(), "the recorded seed stayed in effect")

    def test_queued_requests_served_in_order(self):
        h = self.ready()
        extra = []

        def hook(method, params):
            if not extra:  # while the first handler waits on kv.get
                extra.append(h.request("plugin.dashboard", {
                    "call": "B", "ctx": h.ctx(), "handler": "echo", "params": {"n": "B"}}))
                extra.append(h.request("plugin.event", {
                    "call": "C", "ctx": h.ctx(server="3"), "type": "message_create",
                    "event": {"content": "from C"}}))
                extra.append(h.request("plugin.command", {
                    "call": "D", "ctx": h.ctx(), "command": "ping", "interaction": {"user": "D"}}))

        h.on_host_call = hook
        h.kv["k"] = "v"
        first = h.request("plugin.dashboard", {"call": "A", "ctx": h.ctx(), "handler": "read",
                                               "params": {"key": "k"}})
        got, order = h.serve_until([first])
        got2, order2 = h.serve_until(extra)
        self.assertEqual(order + order2, [first] + extra)
        self.assertEqual(got[first]["result"], {"value": "v", "default": "v"})
        self.assertEqual(got2[extra[0]]["result"]["params"], {"n": "B"})
        self.assertEqual(got2[extra[1]]["result"], {})
        self.assertEqual(got2[extra[2]]["result"], {"content": "pong D"})
        # A's two kv.gets finished before C's calls started, each with its token.
        self.assertEqual([(m, p["call"]) for m, p in h.host_calls],
                         [("kv.get", "A"), ("kv.get", "A"), ("kv.set", "C"),
                          ("metrics.increment", "C")])
        self.assertEqual(h.kv["last:3"], "from C")

    def test_notification_gets_no_reply(self):
        h = self.ready()
        h.send({"jsonrpc": "2.0", "method": "plugin.event", "params": {
            "call": "n", "ctx": h.ctx(), "type": "message_create", "event": {"content": "n"}}})
        resp = h.dashboard("echo")  # the next reply is this one's, not the notification's
        self.assertResult(resp)
        self.assertEqual(h.kv["last:1"], "n")

    def test_commands(self):
        h = self.ready()
        self.assertResult(h.command("ping", {"user": "bob"}), {"content": "pong bob"})
        self.assertResult(h.command("rich", {}), {"content": "rich", "ephemeral": True})
        self.assertResult(h.command("quiet", {}), {})

    def test_unknown_handlers(self):
        h = self.ready()
        cases = [
            {"name": "dashboard", "method": "plugin.dashboard",
             "params": {"call": "t", "ctx": h.ctx(), "handler": "nope", "params": {}},
             "code": -32601, "want": "nope"},
            {"name": "event", "method": "plugin.event",
             "params": {"call": "t", "ctx": h.ctx(), "type": "typing_start", "event": {}},
             "code": -32601, "want": "typing_start"},
            {"name": "command", "method": "plugin.command",
             "params": {"call": "t", "ctx": h.ctx(), "command": "nope", "interaction": {}},
             "code": -32601, "want": "nope"},
            {"name": "method", "method": "plugin.bogus", "params": {}, "code": -32601,
             "want": "plugin.bogus"},
            {"name": "missing call", "method": "plugin.dashboard",
             "params": {"ctx": h.ctx(), "handler": "echo"}, "code": -32602, "want": "call"},
            {"name": "handler not string", "method": "plugin.dashboard",
             "params": {"call": "t", "handler": 5}, "code": -32602, "want": "handler"},
        ]
        for c in cases:
            with self.subTest(c["name"]):
                msg = self.assertError(h.call(c["method"], c["params"]), c["code"])
                self.assertIn(c["want"], msg)
        self.assertResult(h.dashboard("echo"))  # still serving

    def test_invalid_requests(self):
        h = self.ready()
        cases = [
            {"name": "no method", "msg": {"jsonrpc": "2.0", "id": 5, "foo": 1}, "code": -32600},
            {"name": "wrong version", "msg": {"jsonrpc": "1.0", "id": 6, "method": "plugin.dashboard",
                                              "params": {}}, "code": -32600},
            {"name": "params array", "msg": {"jsonrpc": "2.0", "id": 7, "method": "plugin.dashboard",
                                             "params": [1]}, "code": -32602},
        ]
        for c in cases:
            with self.subTest(c["name"]):
                h.send(c["msg"])
                resp = h.recv()
                self.assertEqual(resp["id"], c["msg"]["id"])
                self.assertError(resp, c["code"])
        self.assertResult(h.dashboard("echo"))

    # -- handler failures ----------------------------------------------------

    def test_handler_exception_keeps_serving(self):
        h = self.ready()
        msg = self.assertError(h.dashboard("boom", {"why": "because"}), -32004)
        self.assertIn("ValueError: boom because", msg)
        self.assertResult(h.dashboard("echo"))
        msg = self.assertError(h.dashboard("async_raise"), -32004)
        self.assertIn("KeyError", msg)
        self.assertResult(h.dashboard("echo"))
        self.assertEqual(h.wait(), 0)
        err = h.stderr()
        self.assertIn("Traceback", err)
        self.assertIn("ValueError: boom because", err)

    def test_uncaught_host_error_is_handler_error(self):
        h = self.ready()
        h.fail["kv.get"] = HostCallError(-32000, "capability storage:kv not declared")
        resp = h.dashboard("uncaught_host_error")
        msg = self.assertError(resp, -32004)
        self.assertIn("CapabilityError: capability storage:kv not declared", msg)
        data = resp["error"]["data"]
        self.assertEqual(data["exception"], "CapabilityError")
        tb = data["traceback"]
        self.assertTrue(tb.startswith("Traceback (most recent call last):"), tb)
        self.assertIn("CapabilityError: capability storage:kv not declared", tb)

    def test_typed_exceptions(self):
        h = self.ready()
        for code, name in HOST_ERROR_CODES:
            with self.subTest(code=code):
                h.fail["kv.get"] = HostCallError(code, "failed %d" % code, {"field": "key"})
                res = self.assertResult(h.dashboard("catch"))
                self.assertEqual(res["type"], name)
                self.assertEqual(res["code"], code)
                self.assertEqual(res["message"], "failed %d" % code)
                self.assertEqual(res["field"], "key")
                self.assertIn("MaidError", res["bases"])

    def test_result_not_json(self):
        h = self.ready()
        for handler in ["not_json", "nan"]:
            with self.subTest(handler):
                msg = self.assertError(h.dashboard(handler), -32603)
                self.assertIn("not JSON-serializable", msg)
        self.assertResult(h.dashboard("echo"))

    def test_param_not_json(self):
        h = self.ready()
        res = self.assertResult(h.dashboard("bad_value"))
        self.assertIn("kv.set: params are not JSON-serializable", res["invalid"])
        self.assertEqual(h.host_calls, [])

    def test_max_line_bytes(self):
        h = self.ready(limits={"max_line_bytes": 4096})
        msg = self.assertError(h.dashboard("big", {"n": 5000}), -32001)
        self.assertIn("max line size is 4096", msg)
        self.assertResult(h.dashboard("big", {"n": 3000}))
        res = self.assertResult(h.dashboard("big_set", {"n": 5000}))
        self.assertIn("max line size is 4096", res["limit"])
        self.assertNotIn("kv.set", [m for m, _ in h.host_calls])
        self.assertTrue(all(len(line) <= 4097 for line in h.raw_lines))

    # -- async ---------------------------------------------------------------

    def test_async_handlers(self):
        h = self.ready()
        res = self.assertResult(h.dashboard("async"))
        self.assertEqual(res, {"r": [2, "slept", 6], "v": 10, "loop": "MaidEventLoop"})
        self.assertEqual(h.kv["from_async"], 10)
        self.assertResult(h.dashboard("async_timeout"), {"timed_out": True})
        self.assertResult(h.dashboard("asyncio_run"), {"result": "ran"})

    def test_async_stall_is_an_error(self):
        h = self.ready()
        msg = self.assertError(h.dashboard("async_stall"), -32004)
        self.assertIn("can never happen", msg)
        self.assertResult(h.dashboard("async"))

    # -- stdout belongs to the protocol ---------------------------------------

    def test_print_goes_to_stderr(self):
        h = self.ready()
        self.assertResult(h.dashboard("print", {"text": "hi"}), {"ok": True})
        self.assertEqual(h.wait(), 0)
        err = h.stderr()
        for want in ["module-level print", "printed hi", "direct write"]:
            self.assertIn(want, err)
        # recv() parsed every stdout line as compact JSON; none was print output.
        self.assertFalse(any(b"printed" in line for line in h.raw_lines))

    def test_input_cannot_read_protocol(self):
        h = self.ready()
        h.request("plugin.dashboard", {"call": "t", "ctx": h.ctx(), "handler": "input", "params": {}})
        second = h.request("plugin.dashboard", {"call": "t2", "ctx": h.ctx(), "handler": "echo",
                                                "params": {"n": 2}})
        got, order = h.serve_until([second - 1, second])
        self.assertEqual(order, [second - 1, second])
        self.assertIn("EOFError", self.assertError(got[second - 1], -32004))
        self.assertEqual(self.assertResult(got[second])["params"], {"n": 2})

    # -- host APIs -----------------------------------------------------------

    def test_sql(self):
        h = self.ready()
        h.services["sql.query"] = lambda p: {"columns": ["id", "name"], "rows": [[1, "a"], [2, "b"]]}
        h.services["sql.execute"] = lambda p: {"rows_affected": 1, "last_insert_id": 3}
        res = self.assertResult(h.dashboard("sql"))
        self.assertEqual(res, {"rows": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
                               "exec": {"rows_affected": 1, "last_insert_id": 3}})
        self.assertEqual(h.host_calls, [
            ("sql.query", {"sql": "SELECT id, name FROM t WHERE id > ?", "params": [0], "call": "tok-1"}),
            ("sql.execute", {"sql": "INSERT INTO t(name) VALUES (?)", "params": ["c"], "call": "tok-1"}),
        ])

    def test_metrics(self):
        h = self.ready()
        res = self.assertResult(h.dashboard("metrics"))
        self.assertEqual(res["query"], {"labels": ["2026-11-01", "2026-11-02", "2026-11-03"],
                                        "series": [{"name": "messages", "data": [0, 10, 20]}]})
        self.assertEqual(res["total"], 1)
        self.assertEqual(h.host_calls[0], ("metrics.increment", {"name": "hits", "value": 1, "call": "tok-1"}))
        self.assertEqual(h.host_calls[2][1]["period"], "30d")

    def test_discord(self):
        h = self.ready()
        h.services.update({m: (lambda p: {}) for m in [
            "discord.edit_message", "discord.delete_message", "discord.add_reaction",
            "discord.remove_reaction", "discord.add_role", "discord.remove_role"]})
        h.services["discord.send_message"] = lambda p: {"id": "900"}
        h.services["discord.get_member"] = lambda p: {"user": {"id": p["user_id"]}, "roles": []}
        res = self.assertResult(h.dashboard("discord"))
        self.assertEqual(res, {"sent": {"id": "900"}, "member": {"user": {"id": "u1"}, "roles": []}})
        t = {"call": "tok-1"}
        self.assertEqual(h.host_calls, [
            ("discord.send_message", dict(t, channel_id="10", content="hello", embeds=[{"title": "t"}])),
            ("discord.send_message", dict(t, channel_id="10", content="pong", reply_to="55")),
            ("discord.edit_message", dict(t, channel_id="10", message_id="20", content="edited")),
            ("discord.delete_message", dict(t, channel_id="10", message_id="20")),
            ("discord.add_reaction", dict(t, channel_id="10", message_id="20", emoji="ok")),
            ("discord.remove_reaction", dict(t, channel_id="10", message_id="20", emoji="ok")),
            ("discord.add_role", dict(t, user_id="u1", role_id="r1")),
            ("discord.remove_role", dict(t, user_id="7", role_id="8")),
            ("discord.get_member", dict(t, user_id="u1")),
        ])

    def test_log(self):
        h = self.ready()
        self.assertResult(h.dashboard("log"), {})
        self.assertEqual(h.host_calls, [
            ("log", {"level": "info", "message": "info line", "call": "tok-1"}),
            ("log", {"level": "warning", "message": "warn line", "call": "tok-1"}),
            ("log", {"level": "error", "message": "error line", "call": "tok-1"}),
        ])


class WasiShimProtocolTest(ProtocolTest):
    """The same tests with sockets, threads, subprocesses, select and signals
    unusable, as in CPython built for WASI."""

    WASI_SHIM = True


class WasmProtocolTest(ProtocolTest):
    """The same tests on CPython built for wasm32-wasi (python.wasm), run by
    the wazero CLI: the real sandbox interpreter."""

    WASM = True


if __name__ == "__main__":
    unittest.main()
