"""Test plugin: /echo with options; records member reactions, edits and deletes."""
from maid_sdk import Plugin, Context

plugin = Plugin()

WELCOME = "100000000000000102"


@plugin.on_command("echo")
def echo(ctx: Context, interaction: dict):
    opts = {o["name"]: o["value"] for o in (interaction.get("data") or {}).get("options") or []}
    ctx.discord.send_message(WELCOME, "echoed in #welcome: %s" % opts.get("text"))
    return {"content": "%s x%d" % (opts.get("text"), int(opts.get("times", 1)))}


@plugin.on_event("message_reaction_add")
def reacted(ctx: Context, event: dict):
    ctx.kv.set("last_reaction", {"emoji": (event.get("emoji") or {}).get("name"), "user": event.get("user_id")})


@plugin.on_event("message_update")
def edited(ctx: Context, event: dict):
    ctx.kv.set("last_edit", event.get("content"))


@plugin.on_event("message_delete")
def deleted(ctx: Context, event: dict):
    ctx.kv.set("last_delete", event.get("id"))


plugin.run()
