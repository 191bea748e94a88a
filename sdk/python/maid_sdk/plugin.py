"""Plugin: handler registration, the handshake and the serve loop."""
import os
import sys

from maid_sdk import _conn, _transport, errors
from maid_sdk.context import Context

SDK_VERSION = "0.5.1"
PROTOCOL_VERSION = 1

_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE, without importing inspect
_MAX_ERROR_TEXT = 8192

# Host request method -> (handler table, params key naming the handler,
# params key holding the handler's second argument).
_ROUTES = {
    "plugin.event": ("events", "type", "event"),
    "plugin.dashboard": ("dashboard", "handler", "params"),
    "plugin.command": ("commands", "command", "interaction"),
}
_KINDS = {"events": "event", "dashboard": "dashboard handler", "commands": "command"}


def _is_async(fn):
    code = getattr(fn, "__code__", None)
    return code is not None and bool(code.co_flags & _CO_COROUTINE)


def _is_awaitable(value):
    return hasattr(value, "__await__") or type(value).__name__ == "coroutine"


def _exception_text(exc):
    import traceback  # only on failures: keeps plugin start-up lean on wasm

    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    if len(text) > _MAX_ERROR_TEXT:
        text = text[:_MAX_ERROR_TEXT] + "... (truncated)"
    return text


def _traceback_text(exc):
    """The handler's traceback, with paths relative to the plugin folder
    (the working directory), so that it reads the same on every backend
    and in a replay; bounded like the error text."""
    import traceback

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    root = os.getcwd().rstrip(os.sep) + os.sep
    text = text.replace('File "' + root, 'File "')
    # The SDK's own frames as maid_sdk/...: where a backend keeps it varies.
    sdk_root = os.path.dirname(os.path.dirname(os.path.abspath(errors.__file__))) + os.sep
    text = text.replace('File "' + sdk_root, 'File "')
    if len(text) > _MAX_ERROR_TEXT:
        text = "... (truncated)\n" + text[-_MAX_ERROR_TEXT:]
    return text


class _Stop(Exception):
    pass


class Plugin:
    """A maid plugin: register handlers with the decorators, then call run().

    >>> plugin = Plugin()
    >>> @plugin.on_dashboard("get_settings")
    ... def get_settings(ctx, params):
    ...     return {"values": {}}
    """

    def __init__(self):
        self._handlers = {"events": {}, "dashboard": {}, "commands": {}}
        # Host method -> (its handler table, name key, argument key, table
        # name): one lookup per call instead of three.
        self._routes = {method: (self._handlers[table], name_key, arg_key, table)
                        for method, (table, name_key, arg_key) in _ROUTES.items()}
        self._uses_async = False
        self._running = False
        self._conn = None
        self.plugin_id = None
        self.host_version = None
        self.limits = {}

    # -- registration ----------------------------------------------------

    def _register(self, table, what, name):
        if not isinstance(name, str) or not name:
            raise TypeError("%s name must be a non-empty string, got %r" % (what, name))

        def decorator(fn):
            if not callable(fn):
                raise TypeError("%s %r: handler must be callable" % (what, name))
            handlers = self._handlers[table]
            if name in handlers:
                raise ValueError("%s %r already has a handler (%s)"
                                 % (what, name, getattr(handlers[name], "__name__", "?")))
            handlers[name] = fn
            if _is_async(fn):
                self._uses_async = True
            return fn

        return decorator

    def on_event(self, name):
        """Handle a Discord gateway event, named in lower snake case
        (``message_create``). The handler gets (ctx, event payload dict)."""
        return self._register("events", "event", name)

    def on_dashboard(self, name):
        """Handle a dashboard RPC (``dashboard.<name>`` in the manifest). The
        handler gets (ctx, params dict) and returns the widget's data."""
        return self._register("dashboard", "dashboard handler", name)

    def on_command(self, name):
        """Handle a slash command. The handler gets (ctx, interaction dict) and
        returns a string, {"content": ...} or None."""
        return self._register("commands", "command", name)

    # -- running ---------------------------------------------------------

    def run(self):
        """Say hello to the host, then serve its calls until it sends
        plugin.shutdown or closes stdin. Exits non-zero on a protocol error."""
        _transport.claim_stdio()
        code = self._serve(_transport.stdin(), _transport.stdout())
        if code:
            sys.exit(code)

    def _serve(self, reader, writer):
        """Run the protocol on the given byte streams; returns an exit code."""
        if self._running:
            raise RuntimeError("plugin.run() is already running")
        self._running = True
        if self._uses_async or "asyncio" in sys.modules:
            from maid_sdk import _aio

            _aio.install()
        self._conn = conn = _conn.Connection(reader, writer)
        try:
            self._handshake(conn)
            next_incoming, handle = conn.next_incoming, self._handle  # looked up once
            while True:
                msg = next_incoming()
                if msg is None:
                    return 0
                try:
                    handle(conn, msg)
                except _Stop:
                    return 0
                if conn.closed:
                    return 0
        except _conn.Fatal as e:
            _conn.log("protocol error: %s" % e)
            return 1
        except errors.MaidError as e:
            _conn.log("%s: %s" % (type(e).__name__, e))
            return 1
        finally:
            self._running = False
            if "maid_sdk._aio" in sys.modules:
                sys.modules["maid_sdk._aio"].close()

    def _handshake(self, conn):
        result = conn.request("maid.hello", {
            "protocol": PROTOCOL_VERSION,
            "sdk_version": SDK_VERSION,
            "events": list(self._handlers["events"]),
            "dashboard": list(self._handlers["dashboard"]),
            "commands": list(self._handlers["commands"]),
        })
        if not isinstance(result, dict):
            raise errors.ProtocolError("handshake: host answered %r, want an object" % (result,))
        if result.get("protocol") != PROTOCOL_VERSION:
            raise errors.ProtocolError(
                "handshake: host speaks protocol %r, this SDK speaks %d"
                % (result.get("protocol"), PROTOCOL_VERSION),
                code=errors.INCOMPATIBLE,
            )
        self.plugin_id = result.get("plugin_id")
        self.host_version = result.get("host_version")
        limits = result.get("limits")
        self.limits = limits if isinstance(limits, dict) else {}
        max_line = self.limits.get("max_line_bytes")
        if isinstance(max_line, int) and not isinstance(max_line, bool) and max_line > 0:
            conn.max_line_bytes = max_line

    # -- dispatch --------------------------------------------------------

    def _handle(self, conn, msg):
        # Every call pays for this in the wasm guest, where Python runs
        # several times slower than natively: each message is looked at
        # once, and nothing is built that a successful call does not need.
        # The checks keep their order: a message with several faults gets
        # the same error as ever.
        method = msg.get("method") if isinstance(msg, dict) else None
        if not isinstance(method, str):
            return self._not_a_request(conn, msg)
        has_id = "id" in msg
        req_id = msg.get("id")
        params = msg.get("params")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            return self._reply_error(conn, req_id, errors.INVALID_PARAMS,
                                     "params must be an object", has_id=has_id)
        if msg.get("jsonrpc") != "2.0":
            return self._reply_error(conn, req_id, errors.INVALID_REQUEST,
                                     'jsonrpc must be "2.0"', has_id=has_id)
        route = self._routes.get(method)
        if route is None:
            if method == "plugin.shutdown":
                if has_id:
                    self._reply(conn, req_id, {})
                raise _Stop()
            return self._reply_error(conn, req_id, errors.METHOD_NOT_FOUND,
                                     "unknown method %r" % method, has_id=has_id)
        handlers, name_key, arg_key, table = route
        name = params.get(name_key)
        if not isinstance(name, str):
            return self._reply_error(conn, req_id, errors.INVALID_PARAMS,
                                     "params.%s must be a string" % name_key,
                                     data={"field": name_key}, has_id=has_id)
        call = params.get("call")
        if call is None:
            return self._reply_error(conn, req_id, errors.INVALID_PARAMS,
                                     "params.call is required", data={"field": "call"},
                                     has_id=has_id)
        fn = handlers.get(name)
        if fn is None:
            return self._reply_error(conn, req_id, errors.METHOD_NOT_FOUND,
                                     "no %s %r in this plugin" % (_KINDS[table], name),
                                     has_id=has_id)
        arg = params.get(arg_key)
        if arg is None:
            arg = {}
        ctx = Context(conn, call, params.get("ctx"), self.plugin_id)
        seed = params.get("seed")
        if seed is not None and "random" in sys.modules:
            # The host seeds random for each call, so a recording of the
            # call holds all its randomness (exact replay; docs/plugin-authoring.md).
            sys.modules["random"].seed(seed)
        try:
            try:
                result = fn(ctx, arg)
                # None, what most handlers return, is never awaitable.
                if result is not None and _is_awaitable(result):
                    from maid_sdk import _aio

                    result = _aio.run(result)
            finally:
                if "random" in sys.modules:
                    _reseed_random()
        except _conn.Fatal:
            raise
        except (Exception, _cancelled()) as e:
            import traceback

            _conn.log("%s %r raised:" % (method, name))
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
            if conn.closed:
                return
            return self._reply_error(conn, req_id, errors.HANDLER, _exception_text(e),
                                     data={"exception": type(e).__name__,
                                           "traceback": _traceback_text(e)}, has_id=has_id)
        if conn.closed or not has_id:
            return
        if table == "events":
            # An event's result is ignored and its answer is always {}: with
            # the host's integer ids the line is known without encoding.
            if type(req_id) is int:
                data = b'{"jsonrpc":"2.0","id":%d,"result":{}}' % req_id
                if len(data) <= conn.max_line_bytes:
                    return self._write(conn, data)
            result = {}
        elif table == "commands":
            if result is None:
                result = {}
            elif isinstance(result, str):
                result = {"content": result}
        self._reply_result(conn, req_id, result, method, name)

    def _not_a_request(self, conn, msg):
        if _conn.is_response(msg):
            _conn.log("dropping host answer for unknown id %r" % (msg.get("id"),))
        elif isinstance(msg, dict) and "id" in msg:
            self._reply_error(conn, msg["id"], errors.INVALID_REQUEST,
                              "not a JSON-RPC 2.0 request")
        else:
            _conn.log("ignoring a message that is not a JSON-RPC 2.0 request: %.200r" % (msg,))

    def _reply_result(self, conn, req_id, result, what, name=None):
        """Answer with result; what (and the handler's name, if any) names
        the call in an error, formatted only then."""
        try:
            data = _conn.encode({"jsonrpc": "2.0", "id": req_id, "result": result})
        except (TypeError, ValueError) as e:
            if name is not None:
                what = "%s %r" % (what, name)
            return self._reply_error(conn, req_id, errors.INTERNAL_ERROR,
                                     "%s returned a value that is not JSON-serializable: %s"
                                     % (what, e))
        if len(data) > conn.max_line_bytes:  # conn.check_size, without raising
            if name is not None:
                what = "%s %r" % (what, name)
            return self._reply_error(conn, req_id, errors.LIMIT,
                                     "%s returned %d bytes of JSON; the max line size is %d bytes"
                                     % (what, len(data), conn.max_line_bytes))
        self._write(conn, data)

    def _reply(self, conn, req_id, result):
        self._reply_result(conn, req_id, result, "reply")

    def _reply_error(self, conn, req_id, code, message, data=None, has_id=True):
        if not has_id:
            _conn.log("notification failed: %s" % message)
            return
        while True:
            err = {"code": code, "message": message}
            if data is not None:
                err["data"] = data
            line = _conn.encode({"jsonrpc": "2.0", "id": req_id, "error": err})
            if len(line) <= conn.max_line_bytes or len(message) < 64:
                break
            # Keep the error deliverable under a small line limit.
            message = message[: len(message) // 2] + "... (truncated)"
        self._write(conn, line)

    def _write(self, conn, data):
        try:
            conn.write_bytes(data)
        except errors.ProtocolError:
            pass  # host gone; the serve loop sees conn.closed and ends


def _reseed_random():
    """Reseed random from fresh entropy as a call ends, before its answer:
    the call's seed is in its recording (a server's manager can download
    it), so it must not stay in effect for a later call, maybe another
    server's. Before the answer, the read is part of the call (recorded and
    replayed exactly); 32 bytes keep the recording small."""
    rnd = sys.modules.get("random")
    if rnd is not None:
        rnd.seed(os.urandom(32))


def _cancelled():
    """asyncio.CancelledError if asyncio is loaded (it is a BaseException)."""
    aio = sys.modules.get("asyncio")
    return aio.CancelledError if aio is not None else Exception
