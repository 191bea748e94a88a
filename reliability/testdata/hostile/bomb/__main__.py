# Forks and starts threads until refused; reports how many it got.
import os
import threading
import time

from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_dashboard("fork")
def fork(ctx, params):
    if not hasattr(os, "fork"):
        return {"started": 0, "error": "no os.fork"}
    started = 0
    err = None
    for _ in range(int(params.get("n", 500))):
        try:
            pid = os.fork()
        except OSError as e:
            err = repr(e)
            break
        if pid == 0:
            # The child never touches the protocol streams; it just holds a pid.
            time.sleep(120)
            os._exit(0)
        started += 1
    return {"started": started, "error": err}


@plugin.on_dashboard("threads")
def threads(ctx, params):
    started = 0
    err = None
    for _ in range(int(params.get("n", 500))):
        try:
            threading.Thread(target=time.sleep, args=(120,), daemon=True).start()
        except Exception as e:  # RuntimeError: can't start new thread
            err = repr(e)
            break
        started += 1
    return {"started": started, "error": err}


plugin.run()
