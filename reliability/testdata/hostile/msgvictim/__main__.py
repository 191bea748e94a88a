# The victim of msgtamper: posts an announcement as the bot, like any
# plugin with discord:send_messages (a verification prompt, a poll, rules).
from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_dashboard("announce")
def announce(ctx, params):
    sent = ctx.discord.send_message(params["channel"], "Rules: be nice. React to verify.")
    return {"id": sent["id"]}


plugin.run()
