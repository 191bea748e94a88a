"""The SDK spec's welcome plugin, completed.

The dashboard handlers are the spec's; the stat card's change is computed
(the spec's sample hard-codes "+12%"). The event handlers record active
users per week (for the stat card) and greet new members in the channel
chosen in the settings form, when the server's options say so.
"""
import time

from maid_sdk import Plugin, Context

plugin = Plugin()

WEEK = 7 * 24 * 3600


def week():
    """The current week's number (weeks since the Unix epoch)."""
    return int(time.time()) // WEEK


@plugin.on_event("message_create")
def on_message(ctx: Context, event: dict):
    author = event.get("author") or {}
    if author.get("bot") or not author.get("id"):
        return
    w = week()
    ctx.kv.set("active:%d:%s" % (w, author["id"]), 1)
    ctx.kv.delete("active:%d:%s" % (w - 2, author["id"]))  # keep two weeks


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
    """Members who wrote this week, and the change from last week (none
    when nobody wrote last week: there is nothing to compare with)."""
    w = week()
    now = ctx.kv.count(prefix="active:%d:" % w)
    before = ctx.kv.count(prefix="active:%d:" % (w - 1))
    out = {"value": now}
    if before:
        out["change"] = "%+d%%" % round((now - before) * 100 / before)
    return out


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
