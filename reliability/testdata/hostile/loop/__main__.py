# Busy loops in a dashboard handler and in an event handler.
import os

from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_dashboard("spin")
def spin(ctx, params):
    while True:
        pass


@plugin.on_event("message_create")
def spin_event(ctx, event):
    while True:
        pass


@plugin.on_dashboard("ping")
def ping(ctx, params):
    return {"pid": os.getpid()}


plugin.run()
