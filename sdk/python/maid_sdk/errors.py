"""Typed exceptions for host errors (docs/protocol.md, section 4).

A host call that fails raises the subclass named by the JSON-RPC error code,
so plugins can catch exactly what they expect (``except CapabilityError``)
and let the rest surface as a handler error.
"""

__all__ = [
    "MaidError",
    "ProtocolError",
    "MethodNotFound",
    "InvalidParams",
    "HostError",
    "CapabilityError",
    "LimitError",
    "MaidTimeoutError",
    "NotFoundError",
    "ScopeError",
    "DiscordError",
    "from_rpc_error",
]

# JSON-RPC codes, mirrored from the Go sentinels in package rpc.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
CAPABILITY = -32000
LIMIT = -32001
TIMEOUT = -32002
NOT_FOUND = -32003
HANDLER = -32004
SCOPE = -32005
DISCORD = -32006
INCOMPATIBLE = -32010
CLOSED = -32011


class MaidError(Exception):
    """Base of every error the host reports to the plugin.

    ``code`` is the JSON-RPC error code, ``message`` the host's text and
    ``data`` the optional error data (``field`` is ``data["field"]`` when the
    host names the offending parameter).
    """

    code = INTERNAL_ERROR

    def __init__(self, message="", code=None, data=None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.data = data

    @property
    def field(self):
        if isinstance(self.data, dict):
            return self.data.get("field")
        return None

    def __str__(self):
        if self.field:
            return "%s (field %s)" % (self.message, self.field)
        return self.message


class ProtocolError(MaidError):
    """The conversation with the host broke: bad JSON, version mismatch,
    connection closed."""

    code = INVALID_REQUEST


class MethodNotFound(MaidError):
    code = METHOD_NOT_FOUND


class InvalidParams(MaidError):
    code = INVALID_PARAMS


class HostError(MaidError):
    """The host failed internally; retrying later may work."""

    code = INTERNAL_ERROR


class CapabilityError(MaidError):
    """The plugin's manifest does not declare the capability this call needs."""

    code = CAPABILITY


class LimitError(MaidError):
    """A size, quota, rate or count limit was hit (nothing was written)."""

    code = LIMIT


class MaidTimeoutError(MaidError):
    code = TIMEOUT


# The protocol names it TimeoutError; MaidTimeoutError avoids shadowing the
# builtin for code that star-imports.
TimeoutError = MaidTimeoutError  # noqa: A001


class NotFoundError(MaidError):
    code = NOT_FOUND


class ScopeError(MaidError):
    """The call token is unknown or expired: host calls are only valid while
    the handler that received the context is running."""

    code = SCOPE


class DiscordError(MaidError):
    """Discord rejected the action (missing permission, unknown channel, ...)."""

    code = DISCORD


_BY_CODE = {
    PARSE_ERROR: ProtocolError,
    INVALID_REQUEST: ProtocolError,
    METHOD_NOT_FOUND: MethodNotFound,
    INVALID_PARAMS: InvalidParams,
    INTERNAL_ERROR: HostError,
    CAPABILITY: CapabilityError,
    LIMIT: LimitError,
    TIMEOUT: MaidTimeoutError,
    NOT_FOUND: NotFoundError,
    SCOPE: ScopeError,
    DISCORD: DiscordError,
    INCOMPATIBLE: ProtocolError,
    CLOSED: ProtocolError,
}


def from_rpc_error(error):
    """Build the typed exception for a JSON-RPC error object."""
    if not isinstance(error, dict):
        return ProtocolError("host sent a malformed error object: %r" % (error,))
    code = error.get("code")
    message = error.get("message")
    if not isinstance(message, str):
        message = "host error %s" % (code,)
    cls = _BY_CODE.get(code, MaidError) if isinstance(code, int) else MaidError
    return cls(message, code=code if isinstance(code, int) else None, data=error.get("data"))
