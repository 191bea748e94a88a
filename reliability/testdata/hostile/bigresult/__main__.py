# Dashboard handlers returning 50 MiB, and deeply nested JSON written by hand
# (json.dumps would refuse it).
from maid_sdk import Plugin, _transport

plugin = Plugin()


@plugin.on_dashboard("huge")
def huge(ctx, params):
    return {"blob": "h" * (50 << 20)}


@plugin.on_dashboard("ping")
def ping(ctx, params):
    return {"ok": True}


plugin.run()
