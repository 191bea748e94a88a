"""The four Python handlers of spec 000 ("Build a plugin"), copied verbatim,
served by the SDK to a fake host; results checked against the spec's widget
table (stat_card, chart, form get/save)."""
import unittest

from fakehost import FakeHost

# Header and footer added; the four handlers are the spec's text unchanged.
SPEC_PLUGIN = '''\
from maid_sdk import Plugin, Context

plugin = Plugin()

@plugin.on_dashboard("get_active_users")
def active_users(ctx: Context, params: dict):
    n = ctx.kv.count(prefix="active_user:")
    return {"value": n, "change": "+12%"}
@plugin.on_dashboard("get_messages_chart")
def messages_chart(ctx: Context, params: dict):
    data = ctx.metrics.query("messages", period="7d")
    return {
        "labels": data["labels"],
        "series": [{"name": "Messages", "data": data["series"][0]["data"]}],
    }
@plugin.on_dashboard("get_settings")
def get_settings(ctx: Context, params: dict):
    return {"values": {
        "channel_id": ctx.kv.get("welcome_channel") or "",
        "message": ctx.kv.get("welcome_message") or "Welcome!",
    }}
@plugin.on_dashboard("save_settings")
def save_settings(ctx: Context, params: dict):
    ctx.kv.set("welcome_channel", params["values"]["channel_id"])
    ctx.kv.set("welcome_message", params["values"]["message"])
    return {"ok": True}

plugin.run()
'''


class SpecHandlersTest(unittest.TestCase):
    WASI_SHIM = False
    WASM = False

    def setUp(self):
        self.h = FakeHost(SPEC_PLUGIN, wasi_shim=self.WASI_SHIM, wasm=self.WASM)
        self.addCleanup(self.h.kill)
        hello = self.h.handshake()
        self.assertEqual(hello["params"]["dashboard"], [
            "get_active_users", "get_messages_chart", "get_settings", "save_settings"])

    def result(self, handler, params=None):
        p = {"discord_srv_id": "1"}
        p.update(params or {})
        resp = self.h.dashboard(handler, p)
        self.assertNotIn("error", resp, resp)
        return resp["result"]

    def test_stat_card(self):
        self.h.kv.update({"active_user:1": True, "active_user:2": True, "other": 1})
        self.assertEqual(self.result("get_active_users"), {"value": 2, "change": "+12%"})
        self.assertEqual(self.h.host_calls, [("kv.count", {"prefix": "active_user:", "call": "tok-1"})])

    def test_chart(self):
        res = self.result("get_messages_chart")
        self.assertEqual(len(res["labels"]), 7)
        self.assertEqual(res["series"], [{"name": "Messages", "data": [0, 10, 20, 30, 40, 50, 60]}])
        self.assertEqual(self.h.host_calls, [("metrics.query", {"name": "messages", "period": "7d",
                                                                "call": "tok-1"})])

    def test_form_get_save_get(self):
        self.assertEqual(self.result("get_settings"),
                         {"values": {"channel_id": "", "message": "Welcome!"}})
        self.assertEqual(self.result("save_settings",
                                     {"values": {"channel_id": "123", "message": "Hi there"}}),
                         {"ok": True})
        self.assertEqual(self.h.kv, {"welcome_channel": "123", "welcome_message": "Hi there"})
        self.assertEqual(self.result("get_settings"),
                         {"values": {"channel_id": "123", "message": "Hi there"}})

    def test_save_without_values_is_handler_error(self):
        resp = self.h.dashboard("save_settings", {"discord_srv_id": "1"})
        self.assertEqual(resp["error"]["code"], -32004)
        self.assertIn("KeyError", resp["error"]["message"])
        self.assertEqual(self.result("get_settings")["values"]["message"], "Welcome!")


class WasiShimSpecHandlersTest(SpecHandlersTest):
    WASI_SHIM = True


class WasmSpecHandlersTest(SpecHandlersTest):
    WASM = True


if __name__ == "__main__":
    unittest.main()
