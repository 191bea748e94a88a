"""Tests of the welcome example with maid_sdk.testing: no maid binary.

    cd sdk/examples/welcome && PYTHONPATH=../../python python3 -m unittest discover -s tests
"""
import os
import time
import unittest

from maid_sdk.testing import Harness

PLUGIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


class WelcomeTest(unittest.TestCase):
    def setUp(self):
        self.h = Harness(PLUGIN, server_id="1")
        self.addCleanup(self.h.close)

    def test_active_users_count_distinct_authors(self):
        for author in ("9", "9", "10"):
            self.h.event("message_create", {"content": "hi", "channel_id": "5", "author": {"id": author}})
        self.h.event("message_create", {"content": "beep", "author": {"id": "11", "bot": True}})
        # Nobody wrote last week: no change to show (not a made-up "+12%").
        self.assertEqual(self.h.call("get_active_users"), {"value": 2})
        w = int(time.time()) // (7 * 24 * 3600)
        self.assertEqual(sorted(self.h.kv), ["active:%d:10" % w, "active:%d:9" % w])

    def test_active_users_change_from_last_week(self):
        w = int(time.time()) // (7 * 24 * 3600)
        for uid in ("1", "2", "3", "4"):
            self.h.kv["active:%d:%s" % (w - 1, uid)] = 1
        for author in ("1", "2"):
            self.h.event("message_create", {"content": "hi", "channel_id": "5", "author": {"id": author}})
        self.assertEqual(self.h.call("get_active_users"), {"value": 2, "change": "-50%"})

    def test_settings_round_trip_and_greeting(self):
        self.assertEqual(self.h.call("get_settings"),
                         {"values": {"channel_id": "", "message": "Welcome!"}})
        self.assertEqual(self.h.call("save_settings", {"values": {"channel_id": "77", "message": "Hey!"}}),
                         {"ok": True})
        self.h.event("guild_member_add", {"user": {"id": "42"}})
        self.assertEqual(len(self.h.actions), 1)
        a = self.h.actions[0]
        self.assertEqual(a["method"], "discord.send_message")
        self.assertEqual(a["params"], {"channel_id": "77", "content": "<@42> Hey!"})

    def test_no_channel_logs_instead(self):
        self.h.event("guild_member_add", {"user": {"id": "42"}})
        self.assertEqual(self.h.actions, [])
        self.assertEqual(self.h.logs, [{"level": "info", "message": "a member joined but no welcome channel is set"}])

    def test_options_per_server(self):
        h = Harness(PLUGIN, server_id="1", options={"mention": False},
                    options_for={"2": {"greet_new_members": False}})
        self.addCleanup(h.close)
        for sid in ("1", "2"):
            h.call("save_settings", {"values": {"channel_id": "7" + sid, "message": "Hi"}}, server_id=sid)
            h.event("guild_member_add", {"user": {"id": "42"}}, server_id=sid)
        self.assertEqual([(a["server_id"], a["params"]["content"]) for a in h.actions], [("1", "Hi")])
        self.assertEqual(h.server("2").kv["welcome_channel"], "72")
        self.assertNotIn("welcome_channel", h.server("3").kv)

    def test_chart_reads_host_metrics(self):
        chart = self.h.call("get_messages_chart")
        self.assertEqual(len(chart["labels"]), 7)
        self.assertEqual(chart["series"], [{"name": "Messages", "data": [0.0] * 7}])


if __name__ == "__main__":
    unittest.main()
