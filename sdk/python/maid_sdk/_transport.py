"""Who owns the standard streams.

stdout carries the protocol only; print() must never corrupt it, so the SDK
keeps the real stdout buffer for itself and points sys.stdout at stderr.
Likewise stdin carries host messages only: sys.stdin becomes an empty stream,
so input() in a plugin raises EOFError instead of eating protocol lines.
"""
import io
import sys

_out = None
_in = None


def claim_stdio():
    """Take stdin/stdout for the protocol (idempotent)."""
    global _out, _in
    if _out is None:
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
