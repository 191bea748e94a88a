# Puts another server's id and another plugin's id in every place of its
# host calls' params, and reuses an expired call token.
from maid_sdk import Plugin

plugin = Plugin()

FORGED = {"discord_srv_id": "2", "server_id": "2", "guild_id": "2", "plugin_id": "good",
          "scope": {"PluginID": "good", "ServerID": "2"}, "PluginID": "good", "ServerID": "2"}
saved = {}


@plugin.on_dashboard("forge")
def forge(ctx, params):
    out = {}
    for method, p in {
        "kv.set": {"key": "target", "value": "overwritten by h-scope"},
        "kv.set_many": {"values": {"target": "overwritten by h-scope", "x": 1}},
        "kv.delete": {"key": "target"},
        "metrics.increment": {"name": "forged"},
        "discord.send_message": {"channel_id": "9", "content": "from h-scope"},
    }.items():
        p.update(FORGED)
        try:
            out[method] = ctx._host(method, p)
        except Exception as e:
            out[method] = type(e).__name__
    p = {"key": "target"}
    p.update(FORGED)
    out["kv.get"] = ctx._host("kv.get", p)
    saved["token"] = ctx._token
    return out


@plugin.on_dashboard("stale_token")
def stale_token(ctx, params):
    # The token of the previous (finished) call, used in this one.
    ctx._token = saved["token"]
    try:
        ctx.kv.set("stale", 1)
        return {"result": "allowed"}
    except Exception as e:
        return {"result": type(e).__name__}


plugin.run()
