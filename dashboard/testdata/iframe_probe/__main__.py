"""Test plugin: iframe-mode dashboard probing the sandbox (dashboard tests)."""
from maid_sdk import Plugin, Context

plugin = Plugin()


@plugin.on_dashboard("whoami")
def whoami(ctx: Context, params: dict):
    return {"server": ctx.discord_srv_id, "asked": params.get("discord_srv_id")}


plugin.run()
