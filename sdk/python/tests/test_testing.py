"""Tests of maid_sdk.testing, the harness plugin authors use."""
import json
import os
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from maid_sdk import errors  # noqa: E402
from maid_sdk.testing import Harness  # noqa: E402

PLUGIN = '''
import asyncio
from maid_sdk import Plugin, CapabilityError, LimitError, InvalidParams
from helper import double

plugin = Plugin()
saved = {}


@plugin.on_event("message_create")
def on_message(ctx, event):
    ctx.kv.set("count", (ctx.kv.get("count") or 0) + 1)
    ctx.metrics.increment("greetings")
    if event.get("content") == "!hello":
        ctx.discord.reply(event, ctx.options["greeting"])
    if event.get("content") == "!boom":
        raise ValueError("boom " + str(double(21)))
    saved["ctx"] = ctx


@plugin.on_dashboard("get_count")
def get_count(ctx, params):
    return {"value": ctx.kv.get("count") or 0, "server": params["discord_srv_id"]}


@plugin.on_dashboard("probe")
def probe(ctx, params):
    out = {}
    try:
        ctx.discord.add_role("1", "2")
    except CapabilityError as e:
        out["role"] = type(e).__name__
    try:
        ctx.kv.set("k" * 300, 1)
    except LimitError:
        out["long_key"] = "LimitError"
    try:
        ctx.metrics.increment("messages")
    except InvalidParams:
        out["builtin_metric"] = "InvalidParams"
    ctx.sql.execute("create table if not exists t (x integer)")
    ctx.sql.execute("insert into t values (?)", [params.get("x", 1)])
    out["rows"] = ctx.sql.query("select x from t order by x")
    out["total"] = ctx.metrics.total("greetings", "7d")
    return out


@plugin.on_dashboard("late")
def late(ctx, params):
    return {"ok": True}


@plugin.on_dashboard("not_json")
def not_json(ctx, params):
    return {"s": {1, 2}}


@plugin.on_dashboard("async_one")
async def async_one(ctx, params):
    await asyncio.sleep(0)
    return {"async": True}


@plugin.on_command("ping")
def ping(ctx, interaction):
    return "pong"


plugin.run()
'''


def write_plugin(root, manifest=None, main=PLUGIN, extra=None):
    files = {
        "manifest.json": json.dumps(manifest or {
            "id": "tester", "name": "Tester", "sdk": "0.5.1",
            "capabilities": ["storage:kv", "storage:sql", "metrics:write", "discord:send_messages"],
            "options": [{"id": "greeting", "name": "Greeting", "type": "string", "default": "Hello"}],
        }),
        "__main__.py": main,
        "helper.py": "def double(x):\n    return 2 * x\n",
    }
    files.update(extra or {})
    for name, body in files.items():
        p = os.path.join(root, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(body)
    return root


class HarnessTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.dir = write_plugin(self.tmp.name)

    def harness(self, **kw):
        h = Harness(self.dir, **kw)
        self.addCleanup(h.close)
        return h

    def test_issue_example(self):
        h = self.harness(server_id="1", options={"greeting": "Hi"})
        h.event("message_create", {"content": "!hello", "channel_id": "5", "author": {"id": "9"}, "id": "77"})
        self.assertEqual(h.call("get_count"), {"value": 1, "server": "1"})
        self.assertEqual(h.kv["count"], 1)
        self.assertEqual(h.actions[0]["method"], "discord.send_message")
        self.assertEqual(h.actions[0]["params"], {"channel_id": "5", "content": "Hi", "reply_to": "77"})
        self.assertEqual(h.metrics, {"greetings": 1})
        self.assertEqual(h.hello["events"], ["message_create"])

    def test_servers_are_separate(self):
        h = self.harness()
        h.event("message_create", {"content": "x"}, server_id="1")
        h.event("message_create", {"content": "x"}, server_id="2")
        h.event("message_create", {"content": "x"}, server_id="2")
        self.assertEqual(h.server("1").kv, {"count": 1})
        self.assertEqual(h.server("2").kv, {"count": 2})
        self.assertEqual(h.call("get_count", server_id="2"), {"value": 2, "server": "2"})
        h.call("probe", {"x": 5}, server_id="2")
        self.assertEqual(h.server("2").sql.execute("select x from t").fetchall(), [(5,)])
        with self.assertRaises(Exception):
            h.server("1").sql.execute("select x from t")

    def test_host_rules_and_exception_types(self):
        h = self.harness()
        h.event("message_create", {"content": "x"})
        got = h.call("probe", {"x": 3})
        self.assertEqual(got, {
            "role": "CapabilityError", "long_key": "LimitError", "builtin_metric": "InvalidParams",
            "rows": [{"x": 3}], "total": 1.0,
        })

    def test_handler_exception_propagates(self):
        h = self.harness()
        with self.assertRaises(ValueError) as cm:
            h.event("message_create", {"content": "!boom"})
        self.assertEqual(str(cm.exception), "boom 42")
        self.assertEqual(h.kv["count"], 1)  # what ran before the raise stays

    def test_context_is_scoped_to_its_call(self):
        h = self.harness()
        h.event("message_create", {"content": "x"})
        ctx = h.plugin._handlers["events"]["message_create"].__globals__["saved"]["ctx"]
        with self.assertRaises(errors.ScopeError):
            ctx.kv.get("count")

    def test_results_as_the_host_gets_them(self):
        h = self.harness()
        self.assertEqual(h.command("ping"), {"content": "pong"})
        self.assertEqual(h.call("async_one"), {"async": True})
        with self.assertRaises(errors.HostError):
            h.call("not_json")
        with self.assertRaises(errors.MethodNotFound):
            h.call("nope")
        self.assertIsNone(h.event("guild_member_add", {}))  # no handler: ignored

    def test_capabilities_from_the_manifest(self):
        write_plugin(self.dir, manifest={"id": "tester", "name": "Tester", "options": [
            {"id": "greeting", "name": "G", "type": "string", "default": "Hello"}]})
        h = self.harness()
        with self.assertRaises(errors.CapabilityError):
            h.event("message_create", {"content": "x"})

    def test_bad_setups_are_refused(self):
        with self.assertRaisesRegex(ValueError, "option 'nope' is not in the manifest"):
            Harness(self.dir, options={"nope": 1})
        with self.assertRaisesRegex(ValueError, "needs SDK 9.0.0"):
            Harness(write_plugin(tempfile.mkdtemp(dir=self.tmp.name), manifest={"id": "x", "name": "X", "sdk": "9.0.0"}))
        with self.assertRaisesRegex(ValueError, "never called plugin.run"):
            Harness(write_plugin(tempfile.mkdtemp(dir=self.tmp.name), main="x = 1\n"))

    def test_vendored_lib_and_module_isolation(self):
        a = write_plugin(tempfile.mkdtemp(dir=self.tmp.name), main=textwrap.dedent('''
            from maid_sdk import Plugin
            import vendored_dep, helper
            plugin = Plugin()

            @plugin.on_dashboard("which")
            def which(ctx, params):
                return {"dep": vendored_dep.NAME, "helper": helper.double(1)}

            plugin.run()
            '''), extra={"lib/vendored_dep/__init__.py": "NAME = 'from lib'\n"})
        b = write_plugin(tempfile.mkdtemp(dir=self.tmp.name), main=textwrap.dedent('''
            from maid_sdk import Plugin
            import helper
            plugin = Plugin()

            @plugin.on_dashboard("which")
            def which(ctx, params):
                return {"helper": helper.double(1)}

            plugin.run()
            '''), extra={"helper.py": "def double(x):\n    return 'b'\n"})
        ha, hb = Harness(a), Harness(b)
        self.addCleanup(ha.close)
        self.addCleanup(hb.close)
        self.assertEqual(ha.call("which"), {"dep": "from lib", "helper": 2})
        self.assertEqual(hb.call("which"), {"helper": "b"})
        self.assertNotIn("vendored_dep", sys.modules)


if __name__ == "__main__":
    unittest.main()
