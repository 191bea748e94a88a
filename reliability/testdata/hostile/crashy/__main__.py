# Writes KV batches (set_many, 20 keys each) and logs each acknowledged
# batch, until the test kills it from outside (kill -9, docker kill) or it
# traps itself (os.abort: wasm's unreachable instruction).
import os
import sys
import time

from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_dashboard("whoami")
def whoami(ctx, params):
    try:
        import socket
        host = socket.gethostname()
    except (ImportError, AttributeError):  # wasm's socket module is a stub
        host = ""
    return {"pid": os.getpid(), "hostname": host}


@plugin.on_dashboard("write_forever")
def write_forever(ctx, params):
    i = 0
    while True:
        # wrap: rewrite the first batches forever (stays within the quota).
        n = i % params["wrap"] if params.get("wrap") else i
        ctx.kv.set_many({"batch-%05d-%02d" % (n, k): i for k in range(20)})
        ctx.log.info("acked %d" % i)
        i += 1
        if params.get("abort_after") is not None and i > params["abort_after"]:
            os.abort()
        time.sleep(params.get("pause", 0.03))


@plugin.on_dashboard("ping")
def ping(ctx, params):
    return {"pid": os.getpid()}


plugin.run()
