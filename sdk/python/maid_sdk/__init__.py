"""maid_sdk: write maid plugins in Python.

    from maid_sdk import Plugin, Context

    plugin = Plugin()

    @plugin.on_dashboard("get_settings")
    def get_settings(ctx: Context, params: dict):
        return {"values": {"message": ctx.kv.get("welcome_message") or "Welcome!"}}

    plugin.run()

See README.md next to this package and docs/protocol.md for the wire format.
"""
from maid_sdk.context import Context
from maid_sdk.errors import (
    CapabilityError,
    DiscordError,
    HostError,
    InvalidParams,
    LimitError,
    MaidError,
    MaidTimeoutError,
    MethodNotFound,
    NotFoundError,
    ProtocolError,
    ScopeError,
    TimeoutError,
)
from maid_sdk.plugin import PROTOCOL_VERSION, SDK_VERSION, Plugin

__version__ = SDK_VERSION

# TimeoutError is importable by name but left out of __all__ so that
# `from maid_sdk import *` does not shadow the builtin.
__all__ = [
    "Plugin",
    "Context",
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
    "PROTOCOL_VERSION",
    "SDK_VERSION",
]
