"""Backend of the iframe example: the dashboard reads metrics through the
MaidSDK bridge directly; this handler serves MaidSDK.rpc("summary")."""
from maid_sdk import Plugin, Context

plugin = Plugin()


@plugin.on_dashboard("summary")
def summary(ctx: Context, params: dict):
    return {"server": ctx.discord_srv_id, "messages_30d": ctx.metrics.total("messages", period="30d")}


plugin.run()
