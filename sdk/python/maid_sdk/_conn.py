"""One JSON-RPC connection over a pair of byte streams.

Single-threaded by design (the wasm build has no threads, sockets or
select): a host call writes its request, then reads lines until its answer
arrives. Host requests read meanwhile are queued, and the serve loop takes
them in arrival order once the running handler returns.
"""
import collections
import json
import sys

from maid_sdk import errors

DEFAULT_MAX_LINE_BYTES = 1 << 20


class Fatal(BaseException):
    """The stream is unusable (not JSON, oversize line): the plugin must exit
    non-zero. A BaseException so that a handler's ``except Exception`` cannot
    swallow it and keep talking on a broken stream."""


def log(msg):
    sys.stderr.write("maid_sdk: " + msg + "\n")
    sys.stderr.flush()


def _compact_encoder(ensure_ascii):
    """JSONEncoder(separators=(",", ":"), allow_nan=False).encode, built once.

    JSONEncoder.encode builds a new C encoder at every call (about 10 µs in
    the wasm guest, as much as the rest of a reply): build it once here, with
    the arguments encode would give it. Its circular-reference markers are
    left behind when an encode fails; clearing them keeps the next encode
    from seeing a false cycle.
    """
    enc = json.JSONEncoder(separators=(",", ":"), ensure_ascii=ensure_ascii, allow_nan=False)
    make = json.encoder.c_make_encoder
    if make is None:  # a build without the _json accelerator
        return enc.encode
    markers = {}
    iterencode = make(
        markers, enc.default,
        json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring,
        None, enc.key_separator, enc.item_separator, False, False, False,
    )

    def encode(o):
        try:
            return "".join(iterencode(o, 0))
        except BaseException:
            markers.clear()
            raise

    return encode


_ENCODE = _compact_encoder(False)
_ENCODE_ASCII = _compact_encoder(True)
_DECODER = json.JSONDecoder()
_DECODE = _DECODER.decode
_SCAN = _DECODER.scan_once


def encode(msg):
    """Compact UTF-8 JSON bytes (no newline); raises TypeError/ValueError for
    values JSON cannot carry (sets, NaN, objects...)."""
    text = _ENCODE(msg)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates cannot be UTF-8; escaped they are still valid JSON.
        return _ENCODE_ASCII(msg).encode("ascii")


def decode(text):
    """json.loads(text) for one line.

    A host line is one JSON value from its first character to its newline:
    scan that directly, without decode()'s two whitespace regexes and extra
    calls. Anything else (leading or trailing whitespace, extra data, bad
    JSON) goes through decode(), which gives the same value or error as
    json.loads.
    """
    try:
        obj, end = _SCAN(text, 0)
    except (StopIteration, ValueError):
        return _DECODE(text)
    n = len(text)
    if end == n or (end == n - 1 and text[end] == "\n"):
        return obj
    return _DECODE(text)


def is_request(msg):
    return isinstance(msg, dict) and isinstance(msg.get("method"), str)


def is_response(msg):
    return (
        isinstance(msg, dict)
        and "method" not in msg
        and "id" in msg
        and ("result" in msg or "error" in msg)
    )


class Connection:
    def __init__(self, reader, writer, max_line_bytes=DEFAULT_MAX_LINE_BYTES):
        self._r = reader
        self._w = writer
        self.max_line_bytes = max_line_bytes
        self._next_id = 0
        self._queue = collections.deque()
        self.closed = False

    # -- writing ---------------------------------------------------------

    def check_size(self, data):
        """Raise LimitError if data (a line without its newline) is over the
        line limit, as the host counts it."""
        if len(data) > self.max_line_bytes:
            raise errors.LimitError(
                "message is %d bytes; the host's max line size is %d bytes"
                % (len(data), self.max_line_bytes)
            )

    def write_bytes(self, data):
        if self.closed:
            raise errors.ProtocolError("connection to the host is closed", code=errors.CLOSED)
        try:
            self._w.write(data + b"\n")
            self._w.flush()
        except (OSError, ValueError) as e:
            # Broken pipe or closed file: the host is gone.
            self.closed = True
            raise errors.ProtocolError(
                "connection to the host is closed (%s)" % e, code=errors.CLOSED
            ) from None

    def send(self, msg):
        data = encode(msg)
        self.check_size(data)
        self.write_bytes(data)

    def respond(self, req_id, result):
        self.send({"jsonrpc": "2.0", "id": req_id, "result": result})

    def respond_error(self, req_id, code, message, data=None):
        err = {"code": code, "message": message}
        if data is not None:
            err["data"] = data
        self.send({"jsonrpc": "2.0", "id": req_id, "error": err})

    # -- reading ---------------------------------------------------------

    def read(self):
        """Next message from the host, or None at EOF. Raises Fatal for a
        line that is oversize or not JSON (a protocol error)."""
        while True:
            if self.closed:
                return None
            try:
                line = self._r.readline(self.max_line_bytes + 1)
            except (OSError, ValueError) as e:
                self.closed = True
                log("reading from the host failed: %s" % e)
                return None
            if not line:
                self.closed = True
                return None
            if len(line) > self.max_line_bytes and not (
                len(line) == self.max_line_bytes + 1 and line.endswith(b"\n")
            ):
                raise Fatal(
                    "host sent a line over the max line size of %d bytes" % self.max_line_bytes
                )
            try:
                # The protocol is UTF-8 (bad bytes are a ValueError too).
                return decode(line.decode("utf-8"))
            except ValueError as e:
                # Checked only here: a blank line is never JSON, and
                # stripping every line would copy it.
                if not line.strip():
                    continue  # blank lines carry nothing; skipping them is harmless
                raise Fatal("host sent a line that is not JSON (%s): %.200r" % (e, line)) from None

    def next_incoming(self):
        """The next host message to serve: queued ones first, in order."""
        if self._queue:
            return self._queue.popleft()
        return self.read()

    def request(self, method, params):
        """Call the host and return its result, raising the typed error on
        failure. Host requests arriving before the answer are queued."""
        self._next_id += 1
        req_id = self._next_id
        try:
            data = encode({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params})
        except (TypeError, ValueError) as e:
            raise errors.InvalidParams(
                "%s: params are not JSON-serializable: %s" % (method, e)
            ) from None
        self.check_size(data)
        self.write_bytes(data)
        while True:
            msg = self.read()
            if msg is None:
                raise errors.ProtocolError(
                    "connection to the host closed while waiting for the answer to %s" % method,
                    code=errors.CLOSED,
                )
            if is_response(msg):
                if msg.get("id") != req_id:
                    # A late answer to a call we no longer wait for.
                    log("dropping host answer for unknown id %r" % (msg.get("id"),))
                    continue
                if "error" in msg and msg["error"] is not None:
                    raise errors.from_rpc_error(msg["error"])
                return msg.get("result")
            self._queue.append(msg)
