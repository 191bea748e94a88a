"""Who owns the standard streams.

stdout carries the protocol only; print() must never corrupt it, so the SDK
keeps the real stdout buffer for itself and points sys.stdout at stderr.
Likewise stdin carries host messages only: sys.stdin becomes an empty stream,
so input() in a plugin raises EOFError instead of eating protocol lines.
"""
import io
import os
import sys

_out = None
_in = None


def claim_stdio():
    """Take stdin/stdout for the protocol (idempotent).

    Where the host offers a Unix socket instead (the docker backend's socket
    data path: $MAID_PROTOCOL_SOCKET names it), the protocol goes over that
    socket and the standard streams carry nothing of it.
    """
    global _out, _in
    if _out is None:
        path = os.environ.pop("MAID_PROTOCOL_SOCKET", "")
        if path:
            # Only here: the wasm build has no sockets. _socket, not socket:
            # socket.py builds enums at import (half a MiB per container,
            # and milliseconds of start-up); plain files over the fd read
            # and write it like the pipes of the other backends.
            import _socket

            s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            s.connect(path)
            fd = s.detach()
            _in = io.open(fd, "rb")
            _out = io.open(os.dup(fd), "wb")
        else:
            _out = sys.stdout.buffer
            _in = sys.stdin.buffer
        sys.stdout = sys.stderr
        sys.stdin = io.StringIO()


def stdout():
    claim_stdio()
    return _out


def stdin():
    claim_stdio()
    return _in
