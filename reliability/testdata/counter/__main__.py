# Counts events in KV and checks their order: each event's content is its
# sequence number on this server, so a lost event shows as a gap and a
# duplicate as a repeat.
from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_event("message_create")
def count(ctx, event):
    seq = int(event["content"])
    state = ctx.kv.get_many(["last", "events", "gaps", "dups"])
    last = state.get("last", 0)
    update = {"last": seq, "events": state.get("events", 0) + 1}
    if seq > last + 1:
        update["gaps"] = state.get("gaps", 0) + 1
    elif seq <= last:
        update["dups"] = state.get("dups", 0) + 1
    ctx.kv.set_many(update)


plugin.run()
