# Issue 14, finding 9, from plugin code in a docker container: io_uring
# (allowed by engine 20.10's default seccomp profile), /dev/shm and
# /dev/mqueue beyond the scratch cap, and the host paths of its volumes in
# /proc/self/mountinfo. Reports what worked.
import ctypes
import errno
import os
import platform

from maid_sdk import Plugin

plugin = Plugin()


def attempt(fn):
    try:
        return {"ok": True, "value": fn()}
    except BaseException as e:
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}


def io_uring():
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)
    fd = libc.syscall(425, ctypes.c_ulong(8), params)  # io_uring_setup, same number on x86_64 and aarch64
    if fd < 0:
        raise OSError(ctypes.get_errno(), errno.errorcode.get(ctypes.get_errno(), "?"))
    os.close(fd)
    return "ring fd %d" % fd


def fill(path, mib):
    n = 0
    try:
        with open(path, "wb") as f:
            for _ in range(mib):
                f.write(b"x" * (1 << 20))
                f.flush()
                n += 1
    finally:
        if os.path.exists(path):
            os.remove(path)
    return "wrote %d MiB" % n


def mqueue():
    # Creating a file there makes a POSIX message queue, kernel memory
    # outside the scratch cap.
    os.close(os.open("/dev/mqueue/q", os.O_CREAT | os.O_WRONLY, 0o600))
    os.unlink("/dev/mqueue/q")
    return "created /dev/mqueue/q"


def host_paths():
    out = []
    for line in open("/proc/self/mountinfo"):
        f = line.split()
        if f[4] in ("/tmp", "/dev/shm", "/dev/mqueue", "/plugin") and f[3] != "/":
            out.append(f[4] + " " + f[3])
    if out:
        return out
    raise OSError("no host path")


@plugin.on_dashboard("probe")
def probe(ctx, params):
    mib = params["scratch_mb"]
    return {
        "machine": platform.machine(),
        "io_uring_setup": attempt(io_uring),
        "dev_shm_flood": attempt(lambda: fill("/dev/shm/flood", mib)),
        "dev_mqueue_create": attempt(mqueue),
        "mountinfo_host_paths": attempt(host_paths),
    }


plugin.run()
