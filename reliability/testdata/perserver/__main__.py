# Keeps what it hears in a module global. Run per_server, each server's
# instance must hear only that server's messages; run per_plugin (one
# instance for all), the global mixes them, which is what per_server
# prevents.
import os

from maid_sdk import Plugin

plugin = Plugin()

heard = []  # module global: (server of the call, message content)


@plugin.on_event("message_create")
def on_message(ctx, event):
    heard.append([ctx.discord_srv_id, event.get("content", "")])


@plugin.on_dashboard("heard")
def get_heard(ctx, params):
    return {"heard": heard, "pid": os.getpid()}


plugin.run()
