# A well-behaved plugin: every hostile scenario checks it still answers and
# that its data is untouched.
import os

from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_event("message_create")
def count(ctx, event):
    ctx.kv.set("events", ctx.kv.get("events", 0) + 1)


@plugin.on_dashboard("ping")
def ping(ctx, params):
    return {"pong": True, "pid": os.getpid()}


@plugin.on_dashboard("put")
def put(ctx, params):
    ctx.kv.set(params["key"], params["value"])
    return {"ok": True}


@plugin.on_dashboard("get")
def get(ctx, params):
    return {"value": ctx.kv.get(params["key"]), "events": ctx.kv.get("events", 0)}


@plugin.on_dashboard("secret_table")
def secret_table(ctx, params):
    ctx.sql.execute("CREATE TABLE IF NOT EXISTS secrets (v TEXT)")
    ctx.sql.execute("INSERT INTO secrets (v) VALUES (?)", [params["secret"]])
    return {"rows": [r["v"] for r in ctx.sql.query("SELECT v FROM secrets")]}


plugin.run()
