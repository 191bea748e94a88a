"""Counts every message_create it handles: KV key n:<message id> holds how
many times the message was handled. Exactly once means every value is 1."""
from maid_sdk import Plugin, Context

plugin = Plugin()


@plugin.on_event("message_create")
def on_message(ctx: Context, event: dict):
    key = "n:" + event["id"]
    ctx.kv.set(key, (ctx.kv.get(key) or 0) + 1)


plugin.run()
