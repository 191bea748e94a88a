import os
import time

from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_dashboard("ping")
def ping(ctx, params):
    return {"pong": True, "pid": os.getpid()}


@plugin.on_dashboard("raise")
def boom(ctx, params):
    raise ValueError("handler exploded")


@plugin.on_dashboard("sleep")
def sleep(ctx, params):
    while True:
        time.sleep(0.05)


@plugin.on_dashboard("crash")
def crash(ctx, params):
    os._exit(7)


@plugin.on_dashboard("big_value")
def big_value(ctx, params):
    try:
        ctx.kv.set("big", "x" * (70 << 10))
    except Exception as e:
        return {"error": type(e).__name__}
    return {"error": None}


plugin.run()
