# The victim of msgtamper: posts an announcement as the bot, like any
# plugin with discord:send_messages (a verification prompt, a poll, rules),
# and edits it later, which stays its right.
from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_dashboard("announce")
def announce(ctx, params):
    sent = ctx.discord.send_message(params["channel"], "Rules: be nice. React to verify.")
    return {"id": sent["id"]}


@plugin.on_dashboard("edit")
def edit(ctx, params):
    try:
        ctx.discord.edit_message(params["channel"], params["id"], "Rules: be nice.")
        return {"edit": "ok"}
    except Exception as e:
        return {"edit": "%s: %s" % (type(e).__name__, e)}


plugin.run()
