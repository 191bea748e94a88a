# Tries every SQL route to another plugin's data or the host's tables.
from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_dashboard("steal")
def steal(ctx, params):
    out = {}
    for name, sql in params["statements"].items():
        try:
            if sql.lstrip().upper().startswith(("SELECT", "PRAGMA", "WITH", "VALUES")):
                out[name] = {"rows": ctx.sql.query(sql)}
            else:
                out[name] = {"result": ctx.sql.execute(sql)}
        except Exception as e:
            out[name] = {"error": "%s: %s" % (type(e).__name__, e)}
    return out


plugin.run()
