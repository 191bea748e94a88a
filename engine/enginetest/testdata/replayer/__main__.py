# A plugin whose event handler uses host calls, the random module and (on
# wasm, where the host supplies them) the clock and os.urandom, and fails on
# "fail": for exact replay tests.
import os
import random
import sys
import time
import uuid

from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_event("message_create")
def on_message(ctx, event):
    n = ctx.kv.get("count") or 0
    pick = random.choice("abcdefghijklmnopqrstuvwxyz")
    seen = {"pick": pick}
    if sys.platform == "wasi":
        seen.update(stamp=time.time(), token=os.urandom(8).hex(), uuid=str(uuid.uuid4()))
    ctx.kv.set("count", n + 1)
    ctx.kv.set("last", seen)
    if event.get("content") == "fail":
        raise ValueError("failed at count %d with %s" % (n, sorted(seen.items())))


plugin.run()
