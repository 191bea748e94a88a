# Huge values, long keys, and key floods past the quota.
from maid_sdk import Plugin

plugin = Plugin()


def attempt(fn):
    try:
        fn()
        return "ok"
    except Exception as e:
        return type(e).__name__


@plugin.on_dashboard("flood")
def flood(ctx, params):
    out = {
        "huge_value": attempt(lambda: ctx.kv.set("huge", "v" * (1 << 20))),
        "long_key": attempt(lambda: ctx.kv.set("k" * 4096, 1)),
        "huge_batch": attempt(lambda: ctx.kv.set_many({"b%d" % i: i for i in range(5000)})),
    }
    stored = 0
    err = None
    for i in range(params["keys"]):
        try:
            ctx.kv.set("key-%06d" % i, "x" * 100)
        except Exception as e:
            err = type(e).__name__
            break
        stored += 1
    out["stored"] = stored
    out["flood_error"] = err
    # A batch that crosses the quota must write nothing at all.
    out["crossing_batch"] = attempt(lambda: ctx.kv.set_many({"cross-%d" % i: i for i in range(50)}))
    out["count"] = ctx.kv.count()
    out["cross_written"] = ctx.kv.count("cross-")
    return out


@plugin.on_dashboard("bytes")
def flood_bytes(ctx, params):
    stored = 0
    err = None
    for i in range(params["keys"]):
        try:
            ctx.kv.set("big-%04d" % i, "b" * 60000)
        except Exception as e:
            err = type(e).__name__
            break
        stored += 1
    return {"stored": stored, "error": err}


plugin.run()
