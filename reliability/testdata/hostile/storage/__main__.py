# Abuses maid's storage from plugin code: SQL that builds huge values in the
# database, rows of another server, a new metric name per call, and a flood
# of refused host calls to push its earlier log lines out.
from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_dashboard("sql")
def sql(ctx, params):
    try:
        rows = ctx.sql.query(params["sql"])
        return {"rows": len(rows)}
    except Exception as e:
        return {"error": "%s: %.300s" % (type(e).__name__, e)}


@plugin.on_dashboard("note")
def note(ctx, params):
    ctx.sql.execute("CREATE TABLE IF NOT EXISTS notes (v TEXT)")
    if params.get("add"):
        ctx.sql.execute("INSERT INTO notes (v) VALUES (?)", [params["add"]])
    errors = {}
    for stmt in params.get("attacks", []):
        try:
            ctx.sql.execute(stmt)
        except Exception as e:
            errors[stmt] = type(e).__name__
    ctx.sql.execute("CREATE TABLE IF NOT EXISTS notes (v TEXT)")  # an attack may drop its own
    return {"rows": [r["v"] for r in ctx.sql.query("SELECT v FROM notes ORDER BY v")], "errors": errors}


@plugin.on_dashboard("metric_names")
def metric_names(ctx, params):
    ok, first_error = 0, None
    for i in range(params["n"]):
        try:
            ctx.metrics.increment("m%d" % (params.get("offset", 0) + i))
            ok += 1
        except Exception as e:
            if first_error is None:
                first_error = "%s: %s" % (type(e).__name__, e)
    return {"ok": ok, "error": first_error}


@plugin.on_dashboard("wipe_logs")
def wipe_logs(ctx, params):
    ctx.log.info("evidence: the plugin did something worth keeping")
    refused = 0
    for _ in range(params["n"]):
        try:
            ctx._host("discord.send_message", {"channel_id": "1", "content": "x"})
        except Exception:
            refused += 1
    return {"refused": refused}


plugin.run()
