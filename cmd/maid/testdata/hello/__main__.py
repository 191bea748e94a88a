# The README's "plugin in five minutes".
from maid_sdk import Plugin, Context

plugin = Plugin()

@plugin.on_event("message_create")
def on_message(ctx: Context, event: dict):
    if event["content"] == "!hello":
        n = (ctx.kv.get("count") or 0) + 1
        ctx.kv.set("count", n)
        ctx.discord.send_message(event["channel_id"], f"{ctx.options['greeting']} #{n}")

@plugin.on_dashboard("get_count")
def get_count(ctx: Context, params: dict):
    return {"value": ctx.kv.get("count") or 0}

plugin.run()
