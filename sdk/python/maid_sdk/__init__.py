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
from maid_sdk import errors as _errors
from maid_sdk.errors import *  # noqa: F401,F403 (the exception types, by errors.__all__)
from maid_sdk.errors import TimeoutError  # noqa: F401 (see below)
from maid_sdk.plugin import PROTOCOL_VERSION, SDK_VERSION, Plugin

__version__ = SDK_VERSION

# TimeoutError is importable by name but left out of __all__ so that
# `from maid_sdk import *` does not shadow the builtin.
__all__ = [
    "Plugin",
    "Context",
    *(name for name in _errors.__all__ if name != "from_rpc_error"),
    "PROTOCOL_VERSION",
    "SDK_VERSION",
]
