from maid_sdk import Plugin

plugin = Plugin()
seen = []


@plugin.on_event("message_create")
def on_message(ctx, event):
    seen.append((ctx.discord_srv_id, event["content"]))
    ctx.kv.set("last", event["content"])
    ctx.metrics.increment("custom_hits")


@plugin.on_dashboard("state")
def state(ctx, params):
    return {
        "server": ctx.discord_srv_id,
        "params_server": params.get("discord_srv_id"),
        "last": ctx.kv.get("last"),
        "options": ctx.options,
        "seen": [c for s, c in seen if s == ctx.discord_srv_id],
        "hits": ctx.metrics.total("custom_hits", period="1d"),
    }


@plugin.on_dashboard("set")
def set_(ctx, params):
    ctx.kv.set(params["key"], params["value"])
    return {"ok": True}


@plugin.on_dashboard("get")
def get(ctx, params):
    return {"value": ctx.kv.get(params["key"])}


plugin.run()
