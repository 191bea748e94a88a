"""Test plugin: its iframe sends data the bridge gave it over WebRTC (dashboard tests)."""
from maid_sdk import Plugin, Context

plugin = Plugin()


@plugin.on_dashboard("secret")
def secret(ctx: Context, params: dict):
    return {"secret": "secret-of-" + ctx.discord_srv_id}


plugin.run()
