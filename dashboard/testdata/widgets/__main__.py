"""Test plugin: one dashboard widget of every type (dashboard tests)."""
import time

from maid_sdk import Plugin, Context

plugin = Plugin()


@plugin.on_dashboard("get_stat")
def get_stat(ctx: Context, params: dict):
    return {"value": 1234, "change": "+12%"}


@plugin.on_dashboard("get_chart")
def get_chart(ctx: Context, params: dict):
    return {
        "labels": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
        "series": [
            {"name": "Messages", "data": [5, 9, 4, 12, 7, 15, 11]},
            {"name": "Joins", "data": [1, 3, 2, 5, 4, 2, 6]},
        ],
    }


@plugin.on_dashboard("get_table")
def get_table(ctx: Context, params: dict):
    total = 23
    page, size = int(params.get("page", 1)), int(params.get("page_size", 10))
    start = (page - 1) * size
    rows = [{"rank": i + 1, "name": "user%02d" % (i + 1), "score": 1000 - 10 * i}
            for i in range(start, min(start + size, total))]
    return {"rows": rows, "total": total}


@plugin.on_dashboard("get_list")
def get_list(ctx: Context, params: dict):
    return {"items": [{"label": "#general", "value": "812"}, {"label": "#random", "value": "97"}]}


@plugin.on_dashboard("get_progress")
def get_progress(ctx: Context, params: dict):
    return {"value": 75, "max": 100, "label": "Storage used"}


@plugin.on_dashboard("get_text")
def get_text(ctx: Context, params: dict):
    return {"text": "Plain <b>text</b> content for " + str(params.get("discord_srv_id"))}


@plugin.on_dashboard("get_markdown")
def get_markdown(ctx: Context, params: dict):
    return {"markdown": "# Heading\n- bullet one\n- **bold** bullet\n\n<script>window.pwned=1</script>\n[bad](javascript:alert(1)) [good](https://example.org)"}


@plugin.on_dashboard("get_alert_info")
def alert_info(ctx: Context, params: dict):
    return {"level": "info", "message": "All systems normal"}


@plugin.on_dashboard("get_alert_warn")
def alert_warn(ctx: Context, params: dict):
    return {"level": "warn", "message": "Quota at 75%"}


@plugin.on_dashboard("get_alert_error")
def alert_error(ctx: Context, params: dict):
    return {"level": "error", "message": "Webhook failing"}


@plugin.on_dashboard("boom")
def boom(ctx: Context, params: dict):
    raise RuntimeError("kaboom")


@plugin.on_dashboard("slow")
def slow(ctx: Context, params: dict):
    time.sleep(float(params.get("sleep", 30)))
    return {"text": "too late"}


FORM_KEYS = ["title", "notes", "limit", "active", "mode", "channel", "role", "user"]


@plugin.on_dashboard("get_form")
def get_form(ctx: Context, params: dict):
    values = ctx.kv.get("form") or {"title": "Hello", "notes": "", "limit": 5, "active": False,
                                    "mode": "fast", "channel": "", "role": "", "user": ""}
    return {"values": values}


@plugin.on_dashboard("save_form")
def save_form(ctx: Context, params: dict):
    values = params["values"]
    if not str(values.get("title", "")).strip():
        return {"ok": False, "errors": {"title": "is required"}}
    ctx.kv.set("form", {k: values.get(k) for k in FORM_KEYS})
    return {"ok": True}


@plugin.on_dashboard("get_counts")
def get_counts(ctx: Context, params: dict):
    return {"labels": ["a", "b", "c"], "series": [{"name": "Count", "data": [1, 3, 2]}]}


@plugin.on_dashboard("get_dates")
def get_dates(ctx: Context, params: dict):
    days = ["2026-11-%02d" % d for d in range(24, 31)]
    return {"labels": days, "series": [{"name": "Messages", "data": [3, 0, 7, 12, 5, 9, 4]}]}


@plugin.on_dashboard("get_empty_pie")
def get_empty_pie(ctx: Context, params: dict):
    return {"labels": [], "series": [{"name": "Share", "data": []}]}


@plugin.on_dashboard("get_empty_line")
def get_empty_line(ctx: Context, params: dict):
    return {"labels": ["2026-11-29", "2026-11-30"], "series": [{"name": "Messages", "data": [0, 0]}]}


@plugin.on_dashboard("get_long_table")
def get_long_table(ctx: Context, params: dict):
    return {"rows": [{"id": 1, "value": "x" * 3000}, {"id": 2, "value": "short"}], "total": 2}


@plugin.on_dashboard("get_bad")
def get_bad(ctx: Context, params: dict):
    return {"labels": ["a"], "series": [{"name": "s", "data": ["not a number"]}]}


plugin.run()
