# Dashboard handlers whose answers make rendering explode (issue 14): each
# answer is under the 1 MiB protocol line, the most a handler can send.
from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_dashboard("table_wide")
def table_wide(ctx, params):
    # Issue 14's reproduction: every row has its own key.
    return {"rows": [{"k%x" % i: 0} for i in range(60000)], "total": 60000}


@plugin.on_dashboard("table_cells")
def table_cells(ctx, params):
    return {"rows": [{"c%d" % c: '"<' * 120 for c in range(20)} for r in range(100)], "total": 1e300}


@plugin.on_dashboard("chart")
def chart(ctx, params):
    return {"labels": ["%d<>" % i for i in range(20000)],
            "series": [{"name": "s%d" % s, "data": [7] * 20000} for s in range(20)]}


@plugin.on_dashboard("pie")
def pie(ctx, params):
    return {"labels": ["slice"] * 60000, "series": [{"name": "n", "data": [1] * 60000}]}


@plugin.on_dashboard("list")
def items(ctx, params):
    return {"items": [{"label": "<b>", "value": "&&&&"} for _ in range(25000)]}


@plugin.on_dashboard("stat")
def stat(ctx, params):
    return {"value": '"' * 300000, "change": "+" + "<" * 100000}


@plugin.on_dashboard("text")
def text(ctx, params):
    return {"text": '"' * 450000}


@plugin.on_dashboard("alert")
def alert(ctx, params):
    return {"level": "warn", "message": "<i>" * 300000}


@plugin.on_dashboard("md_refs")
def md_refs(ctx, params):
    return {"markdown": "[a]: http://x/" + "y" * 2000 + "\n\n" + "[a] " * 200000}


@plugin.on_dashboard("md_quotes")
def md_quotes(ctx, params):
    return {"markdown": ">" * 900000 + " x"}


@plugin.on_dashboard("md_table")
def md_table(ctx, params):
    # A GFM table pads every row to its header's width.
    return {"markdown": "|" + "a|" * 1000 + "\n|" + "-|" * 1000 + "\n" + "x\n" * 200000}


@plugin.on_dashboard("form")
def form(ctx, params):
    return {"values": {"title": '"' * 300000, "notes": "<" * 300000}}


@plugin.on_dashboard("save")
def save(ctx, params):
    return {"ok": True}


@plugin.on_dashboard("ping")
def ping(ctx, params):
    return {"ok": True}


plugin.run()
