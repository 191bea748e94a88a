"""The SDK spec's welcome plugin, completed.

The four dashboard handlers are the spec's, unchanged. The event handlers
record active users (for the stat card) and greet new members in the
channel chosen in the settings form, when the server's options say so.
"""
import time

from maid_sdk import Plugin, Context

plugin = Plugin()


@plugin.on_event("message_create")
def on_message(ctx: Context, event: dict):
    author = event.get("author") or {}
    if author.get("bot") or not author.get("id"):
        return
    ctx.kv.set("active_user:" + author["id"], int(time.time()))


@plugin.on_event("guild_member_add")
def on_member_join(ctx: Context, event: dict):
    if not ctx.options.get("greet_new_members", True):
        return
    channel = ctx.kv.get("welcome_channel")
    if not channel:
        ctx.log.info("a member joined but no welcome channel is set")
        return
    text = ctx.kv.get("welcome_message") or "Welcome!"
    user = event.get("user") or {}
    if ctx.options.get("mention", True) and user.get("id"):
        text = "<@%s> %s" % (user["id"], text)
    ctx.discord.send_message(channel, text)


@plugin.on_dashboard("get_active_users")
def active_users(ctx: Context, params: dict):
    n = ctx.kv.count(prefix="active_user:")
    return {"value": n, "change": "+12%"}


@plugin.on_dashboard("get_messages_chart")
def messages_chart(ctx: Context, params: dict):
    data = ctx.metrics.query("messages", period="7d")
    return {
        "labels": data["labels"],
        "series": [{"name": "Messages", "data": data["series"][0]["data"]}],
    }


@plugin.on_dashboard("get_settings")
def get_settings(ctx: Context, params: dict):
    return {"values": {
        "channel_id": ctx.kv.get("welcome_channel") or "",
        "message": ctx.kv.get("welcome_message") or "Welcome!",
    }}


@plugin.on_dashboard("save_settings")
def save_settings(ctx: Context, params: dict):
    ctx.kv.set("welcome_channel", params["values"]["channel_id"])
    ctx.kv.set("welcome_message", params["values"]["message"])
    return {"ok": True}


plugin.run()
