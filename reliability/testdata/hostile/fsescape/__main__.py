# Tries every way out of its files it can think of: symbolic and hard
# links, "..", renames across mounts, creating or emptying files in the
# read-only mounts with read-only open flags, another instance's scratch,
# and the scratch quota (sparse files, empty files and dirs). Reports what
# worked.
import os
import time

from maid_sdk import Plugin

plugin = Plugin()


def attempt(fn):
    try:
        return {"ok": True, "value": fn()}
    except BaseException as e:
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}


def read(path):
    with open(path, "rb") as f:
        return f.read(4096).decode("latin-1")


def write(path):
    with open(path, "w") as f:
        f.write("written from a wasm guest\n")
    return "wrote " + path


def steps(*fns):
    out = None
    for fn in fns:
        out = fn()
    return out


@plugin.on_dashboard("escape")
def escape(ctx, params):
    secret, target = params["secret"], params["write"]
    up = "../" * 30
    a = {
        "relative symlink read": lambda: steps(
            lambda: os.symlink(up, "/tmp/hostroot"), lambda: read("/tmp/hostroot" + secret)),
        "relative symlink write": lambda: steps(
            lambda: os.symlink(up, "/tmp/hostroot2"), lambda: write("/tmp/hostroot2" + target)),
        "absolute symlink": lambda: steps(
            lambda: os.symlink(os.path.dirname(secret), "/tmp/abs"),
            lambda: read("/tmp/abs/" + os.path.basename(secret))),
        "symlink in a subdir": lambda: steps(
            lambda: os.makedirs("/tmp/d/e", exist_ok=True),
            lambda: os.symlink("../../" + up, "/tmp/d/e/up"), lambda: read("/tmp/d/e/up" + secret)),
        "symlink then rename": lambda: steps(
            lambda: os.symlink(up, "/tmp/l1"), lambda: os.rename("/tmp/l1", "/tmp/l2"),
            lambda: read("/tmp/l2" + secret)),
        "readlink of a made link": lambda: os.readlink("/tmp/hostroot"),
        "hard link of a plugin file": lambda: steps(
            lambda: os.link("/plugin/__main__.py", "/tmp/hl"), lambda: write("/tmp/hl")),
        "hard link in scratch": lambda: steps(
            lambda: write("/tmp/f"), lambda: os.link("/tmp/f", "/tmp/g")),
        "dotdot from scratch": lambda: read("/tmp/../../../.." + secret),
        "dotdot from the plugin": lambda: read("/plugin/../../../.." + secret),
        "dotdot write": lambda: write("/tmp/../../../.." + target),
        "relative path": lambda: read("../../../.." + secret),
        "rename scratch into the plugin": lambda: steps(
            lambda: write("/tmp/r"), lambda: os.rename("/tmp/r", "/plugin/r")),
        "rename a plugin file": lambda: os.rename("/plugin/__main__.py", "/plugin/x.py"),
        "rename a plugin file into scratch": lambda: os.rename("/plugin/__main__.py", "/tmp/m.py"),
        "create in the stdlib": lambda: os.open("/usr/local/PWNED", os.O_RDONLY | os.O_CREAT),
        "create in the sdk": lambda: os.open("/maid/sdk/PWNED", os.O_RDONLY | os.O_CREAT),
        "create in the plugin": lambda: os.open("/plugin/PWNED", os.O_RDONLY | os.O_CREAT),
        "truncate a plugin file": lambda: os.open("/plugin/__main__.py", os.O_RDONLY | os.O_TRUNC),
        "append to a plugin file": lambda: os.open("/plugin/__main__.py", os.O_WRONLY | os.O_APPEND),
        "mkdir in the sdk": lambda: os.mkdir("/maid/sdk/PWNED"),
        "remove a stdlib file": lambda: os.remove("/usr/local/lib/python3.11/os.pyc"),
    }
    return {name: attempt(fn) for name, fn in a.items()}


@plugin.on_dashboard("plant")
def plant(ctx, params):
    with open("/tmp/planted-" + params["token"], "w") as f:
        f.write(params["token"])
    return sorted(os.listdir("/tmp"))


@plugin.on_dashboard("peek")
def peek(ctx, params):
    return {
        "ls": sorted(os.listdir("/tmp")),
        "read": attempt(lambda: read("/tmp/planted-" + params["token"])),
    }


@plugin.on_dashboard("sparse")
def sparse(ctx, params):
    # Issue 14: seek far, write a byte, unlink, repeat: the unlink refunded
    # the apparent size while the blocks stayed allocated.
    wrote = 0
    errors = set()
    for i in range(params["rounds"]):
        try:
            with open("/tmp/sparse", "wb") as f:
                f.seek(64 << 30)
                f.write(b"x")
            wrote += 1
        except OSError as e:
            errors.add(str(e))
        try:
            os.remove("/tmp/sparse")
        except OSError:
            pass
    return {"wrote": wrote, "errors": sorted(errors)}


@plugin.on_dashboard("flood")
def flood(ctx, params):
    # Bytes held at once: fill files until refused, and keep them.
    total = 0
    block = b"f" * (256 << 10)
    i = 0
    try:
        while total < (1 << 30):
            with open("/tmp/flood%d" % i, "wb") as f:
                for _ in range(16):
                    f.write(block)
                    f.flush()
                    total += len(block)
            i += 1
    except OSError:
        pass
    return total


@plugin.on_dashboard("inodes")
def inodes(ctx, params):
    # Empty files and dirs were never charged: create them until refused
    # or out of time.
    n = 0
    deadline = time.monotonic() + params["seconds"]
    try:
        while time.monotonic() < deadline:
            if n % 2:
                os.mkdir("/tmp/i%d" % n)
            else:
                open("/tmp/i%d" % n, "w").close()
            n += 1
    except OSError:
        pass
    return n


plugin.run()
