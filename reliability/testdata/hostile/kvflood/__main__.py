# Huge values, long keys, and key floods past the quota.
from maid_sdk import Plugin

plugin = Plugin()


def attempt(fn):
    try:
        fn()
        return "ok"
    except Exception as e:
        return type(e).__name__


def fill(ctx, keys, name, value):
    """Sets keys named name % i to value until one fails; returns how many
    were stored and the failure's type name (None if all were)."""
    for i in range(keys):
        try:
            ctx.kv.set(name % i, value)
        except Exception as e:
            return i, type(e).__name__
    return keys, None


@plugin.on_dashboard("flood")
def flood(ctx, params):
    out = {
        "huge_value": attempt(lambda: ctx.kv.set("huge", "v" * (1 << 20))),
        "long_key": attempt(lambda: ctx.kv.set("k" * 4096, 1)),
        "huge_batch": attempt(lambda: ctx.kv.set_many({"b%d" % i: i for i in range(5000)})),
    }
    out["stored"], out["flood_error"] = fill(ctx, params["keys"], "key-%06d", "x" * 100)
    # A batch that crosses the quota must write nothing at all.
    out["crossing_batch"] = attempt(lambda: ctx.kv.set_many({"cross-%d" % i: i for i in range(50)}))
    out["count"] = ctx.kv.count()
    out["cross_written"] = ctx.kv.count("cross-")
    return out


@plugin.on_dashboard("bytes")
def flood_bytes(ctx, params):
    stored, err = fill(ctx, params["keys"], "big-%04d", "b" * 60000)
    return {"stored": stored, "error": err}


plugin.run()
