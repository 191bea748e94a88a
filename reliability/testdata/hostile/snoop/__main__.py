# Tries to read host files, list host dirs, connect to the network and
# write outside its scratch space. Reports what worked.
import os

from maid_sdk import Plugin

plugin = Plugin()


def attempt(fn):
    try:
        return {"ok": True, "value": fn()}
    except BaseException as e:  # ImportError too: no socket module on wasm
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}


def read(path):
    with open(path, "rb") as f:
        return f.read(4096).decode("latin-1")


@plugin.on_dashboard("read")
def read_files(ctx, params):
    out = {}
    for path in params["paths"]:
        out[path] = attempt(lambda: read(path))
    for path in params.get("dirs", []):
        out["ls " + path] = attempt(lambda: sorted(os.listdir(path)))
    return out


def connect(host, port):
    import socket
    s = socket.create_connection((host, port), timeout=2)
    s.sendall(b"hello from a plugin\n")
    s.close()
    return "connected"


@plugin.on_dashboard("connect")
def connect_all(ctx, params):
    out = {}
    for host in params["hosts"]:
        out[host] = attempt(lambda: connect(host, params["port"]))
    out["dns"] = attempt(lambda: __import__("socket").getaddrinfo("localhost", 80))
    return out


def write(path, n):
    with open(path, "wb") as f:
        block = b"w" * (1 << 20)
        for _ in range(n):
            f.write(block)
            f.flush()
    return n


@plugin.on_dashboard("write")
def write_all(ctx, params):
    out = {}
    for path in params["paths"]:
        out[path] = attempt(lambda: write(path, 1))
    # Scratch space (/tmp) is bounded: try to write far past it.
    out["scratch_flood"] = attempt(lambda: write(os.path.join(params["scratch"], "flood"), params["scratch_mb"]))
    out["scratch_small"] = attempt(lambda: write(os.path.join(params["scratch"], "small"), 0))
    return out


plugin.run()
