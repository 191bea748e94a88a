"""The four Python handlers of spec 000 ("Build a plugin"), copied verbatim,
served by the SDK to a fake host; results checked against the spec's widget
table (stat_card, chart, form get/save)."""
import os
import unittest

from fakehost import FakeHost

# The spec's four handlers, verbatim, live once in the repository: the Go
# tests load the same plugin (plugin/testdata/spec000).
SPEC_PLUGIN_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "plugin", "testdata", "spec000", "__main__.py")
with open(SPEC_PLUGIN_PATH) as f:
    SPEC_PLUGIN = f.read()


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
