"""Test plugin for the discord package: records the events it sees and
turns "!verb args" messages into Discord actions, recording errors."""
from maid_sdk import Plugin

plugin = Plugin()


def _append(ctx, key, item):
    items = ctx.kv.get(key) or []
    items.append(item)
    ctx.kv.set(key, items)


def _seen(ctx, kind, ev, extra=None):
    item = {"type": kind, "server": ctx.discord_srv_id, "guild_id": ev.get("guild_id") or ev.get("id")}
    item.update(extra or {})
    _append(ctx, "seen", item)


@plugin.on_event("guild_create")
def on_guild(ctx, ev):
    _seen(ctx, "guild_create", ev)


@plugin.on_event("guild_member_add")
def on_join(ctx, ev):
    _seen(ctx, "guild_member_add", ev, {"user": (ev.get("user") or {}).get("id")})


@plugin.on_event("guild_member_remove")
def on_leave(ctx, ev):
    _seen(ctx, "guild_member_remove", ev, {"user": (ev.get("user") or {}).get("id")})


@plugin.on_event("message_create")
def on_message(ctx, ev):
    if (ev.get("author") or {}).get("bot"):
        return
    text = ev.get("content") or ""
    _seen(ctx, "message_create", ev, {"content": text, "id": ev.get("id")})
    parts = text.split()
    if not parts or not parts[0].startswith("!"):
        return
    verb, args = parts[0][1:], parts[1:]
    d = ctx.discord
    try:
        if verb == "send":
            d.send_message(args[0], " ".join(args[1:]), embeds=[{"title": "T", "description": "D"}])
        elif verb == "reply":
            d.reply(ev, "pong")
        elif verb == "react":
            d.add_reaction(ev["channel_id"], ev["id"], args[0])
        elif verb == "unreact":
            # The bot's reactions are removable only from the plugin's own
            # messages (another plugin's poll keeps its options).
            sent = d.send_message(ev["channel_id"], "poll")
            d.remove_reaction(ev["channel_id"], sent["id"], args[0])
            ctx.kv.set("unreacted", sent["id"])
        elif verb == "role":
            d.add_role(args[0], args[1])
        elif verb == "unrole":
            d.remove_role(args[0], args[1])
        elif verb == "member":
            ctx.kv.set("member", d.get_member(args[0]))
        elif verb == "editdel":
            sent = d.send_message(ev["channel_id"], "draft")
            d.edit_message(ev["channel_id"], sent["id"], "final")
            d.delete_message(ev["channel_id"], sent["id"])
            ctx.kv.set("sent", sent["id"])
        elif verb == "del":
            d.delete_message(args[0], args[1])
        _append(ctx, "done", verb)
    except Exception as e:  # recorded for the test to inspect
        _append(ctx, "errors", "%s %s: %s" % (verb, type(e).__name__, e))


@plugin.on_command("ping")
def ping(ctx, interaction):
    user = ((interaction.get("member") or {}).get("user") or {}).get("id")
    return {"content": "pong from %s by %s" % (ctx.discord_srv_id, user)}


@plugin.on_dashboard("state")
def state(ctx, params):
    return {k: ctx.kv.get(k) for k in ("seen", "errors", "done", "member", "sent", "unreacted")}


plugin.run()
