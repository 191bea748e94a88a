# Declares no capability, then calls every host method that needs one.
from maid_sdk import Plugin

plugin = Plugin()

CALLS = {
    "kv.set": {"key": "k", "value": 1},
    "kv.get": {"key": "k"},
    "kv.set_many": {"values": {"a": 1}},
    "metrics.increment": {"name": "stolen"},
    "sql.execute": {"sql": "CREATE TABLE t (x)", "params": []},
    "sql.query": {"sql": "SELECT 1", "params": []},
    "discord.send_message": {"channel_id": "1", "content": "spam"},
    "discord.add_role": {"user_id": "1", "role_id": "2"},
    "discord.get_member": {"user_id": "1"},
}


@plugin.on_dashboard("try_all")
def try_all(ctx, params):
    out = {}
    for method, p in CALLS.items():
        try:
            ctx._host(method, dict(p))
            out[method] = "allowed"
        except Exception as e:
            out[method] = type(e).__name__
    return out


plugin.run()
