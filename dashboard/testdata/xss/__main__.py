# Names, descriptions, choices and log lines carrying markup: the dashboard
# must show them as text.
import sys

from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_dashboard("log")
def log(ctx, params):
    ctx.log.info("<script>alert('log')</script>")
    print("<img src=x onerror=alert('stderr')>", file=sys.stderr, flush=True)
    return {"ok": True}


plugin.run()
