# Attack Q1: every plugin's messages are the bot's, and the host checked
# only that a message's channel is on the call's server (and, for deletes,
# that the bot wrote it), so a plugin enabled on the same server could
# rewrite or delete another plugin's messages. Now the engine refuses any
# message this plugin's own send_message did not return.
from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_dashboard("tamper")
def tamper(ctx, params):
    out = {}
    for name, f in [
        ("edit", lambda: ctx.discord.edit_message(params["channel"], params["id"], "Rules: send your password to @mallory.")),
        ("delete", lambda: ctx.discord.delete_message(params["channel"], params["id"])),
    ]:
        try:
            f()
            out[name] = "ok"
        except Exception as e:
            out[name] = "%s: %s" % (type(e).__name__, e)
    return out


plugin.run()
