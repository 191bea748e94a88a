# Floods the protocol stream (stdout) and the log stream (stderr).
import sys

from maid_sdk import Plugin, _transport

plugin = Plugin()


@plugin.on_dashboard("garbage")
def garbage(ctx, params):
    out = _transport.stdout()
    for _ in range(2000):
        out.write(b"\x00\xffnot json at all {{{ \xc3\x28\n")
    out.flush()
    return {"survived": True}


@plugin.on_dashboard("long_line")
def long_line(ctx, params):
    # 100 MiB (params["mb"]) without a newline, in 1 MiB writes.
    out = _transport.stdout()
    chunk = b"a" * (1 << 20)
    for _ in range(int(params.get("mb", 100))):
        out.write(chunk)
    out.write(b"\n")
    out.flush()
    return {"survived": True}


@plugin.on_dashboard("stderr")
def stderr(ctx, params):
    for i in range(int(params.get("lines", 20000))):
        sys.stderr.write("flood line %d %s\n" % (i, "y" * 100))
    sys.stderr.write("z" * (4 << 20) + "\n")  # one 4 MiB line
    sys.stderr.flush()
    return {"done": True}


@plugin.on_dashboard("note")
def note(ctx, params):
    ctx.log.info("after the flood")
    return {"ok": True}


@plugin.on_dashboard("ping")
def ping(ctx, params):
    return {"ok": True}


plugin.run()
