# Host-call results as a memory attack on maid (issue 14 attack, position 1
# finding 1): fill the KV quota with values that JSON-escape to six times
# their size ('<'), add many long keys, then write raw kv.get_many and
# kv.list requests for all of it straight to fd 1, many in flight at once,
# never reading the answers. Unbounded, one call grew maid past 4 GiB.
import json
import os
import time

from maid_sdk import Plugin

plugin = Plugin()

VALUES = 140  # x 65,000 bytes: 9.1 MB of the 10 MiB quota
LONG_KEYS = 5000  # x 250 bytes: 1.25 MB of key names, more than one kv.list result may hold


@plugin.on_dashboard("fill")
def fill(ctx, params):
    v = "<" * 65000
    for start in range(0, VALUES, 10):
        ctx.kv.set_many({"v%03d" % i: v for i in range(start, min(start + 10, VALUES))})
    for start in range(0, LONG_KEYS, 1000):
        ctx.kv.set_many({"l%04d" % i + "<" * 245: 0 for i in range(start, min(start + 1000, LONG_KEYS))})
    return {"count": ctx.kv.count()}


@plugin.on_dashboard("ask")
def ask(ctx, params):
    """The same reads through the SDK: each must fail with a clear error."""
    out = {}
    for name, f in [
        ("get_many", lambda: ctx.kv.get_many(["v%03d" % i for i in range(VALUES)])),
        ("list", lambda: ctx.kv.list("l")),
    ]:
        try:
            r = f()
            out[name] = "ok %d" % len(r)
        except Exception as e:
            out[name] = "%s: %s" % (type(e).__name__, e)
    out["small"] = len(ctx.kv.get_many(["v000", "v001"]))
    return out


@plugin.on_dashboard("flood")
def flood(ctx, params):
    keys = ["v%03d" % i for i in range(VALUES)]
    tok = ctx._token
    for r in range(params.get("rounds", 3)):
        buf = b""
        for i in range(params.get("per_round", 64)):
            if i % 4 == 3:
                method, p = "kv.list", {"call": tok, "prefix": "l"}
            else:
                method, p = "kv.get_many", {"call": tok, "keys": keys}
            buf += json.dumps({"jsonrpc": "2.0", "id": "z%d_%d" % (r, i), "method": method, "params": p}).encode() + b"\n"
        os.write(1, buf)
        time.sleep(params.get("sleep", 0.5))
    return {"done": True}


plugin.run()
