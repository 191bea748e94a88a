from maid_sdk import Plugin, CapabilityError

plugin = Plugin()


@plugin.on_dashboard("try_kv")
def try_kv(ctx, params):
    try:
        ctx.kv.set("x", 1)
    except CapabilityError as e:
        return {"denied": True, "error": str(e)}
    return {"denied": False}


@plugin.on_dashboard("try_send")
def try_send(ctx, params):
    try:
        ctx.discord.send_message("123", "hi")
    except CapabilityError:
        return {"denied": True}
    return {"denied": False}


plugin.run()
