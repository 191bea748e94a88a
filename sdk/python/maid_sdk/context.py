"""The handler context: who the call is for, and the host APIs.

Every host call carries the ``call`` token of the host call being served;
the host scopes storage, metrics and Discord actions by that token, so a
Context is only usable while its handler runs.
"""
from maid_sdk import errors

__all__ = ["Context", "KV", "Metrics", "SQL", "Discord", "Log"]


def _need_str(value, field):
    if not isinstance(value, str):
        raise errors.InvalidParams(
            "%s must be a string, got %s" % (field, type(value).__name__), data={"field": field}
        )
    return value


def _snowflake(value, field):
    """Discord ids travel as strings; ints are accepted for convenience."""
    if isinstance(value, bool):
        pass
    elif isinstance(value, int):
        return str(value)
    elif isinstance(value, str) and value:
        return value
    raise errors.InvalidParams(
        "%s must be a Discord id (string or int), got %r" % (field, value), data={"field": field}
    )


class _HostAPI:
    """A Context attribute whose API object is made on first use and then
    cached in the instance: most handlers use one host API or none, and
    every call gets a new Context."""

    def __init__(self, make):
        self._make = make

    def __set_name__(self, owner, name):
        self._name = name

    def __get__(self, ctx, owner=None):
        if ctx is None:
            return self
        api = ctx.__dict__[self._name] = self._make(ctx)
        return api


class Context:
    """Passed to every handler as its first argument.

    Attributes: ``discord_srv_id`` (the server this call is for),
    ``plugin_id``, ``options`` (this server's option values, defaults
    applied), and the host APIs ``kv``, ``metrics``, ``sql``, ``discord``,
    ``log``.
    """

    # The API classes are defined below: look them up at first use.
    kv = _HostAPI(lambda ctx: KV(ctx))
    metrics = _HostAPI(lambda ctx: Metrics(ctx))
    sql = _HostAPI(lambda ctx: SQL(ctx))
    discord = _HostAPI(lambda ctx: Discord(ctx))
    log = _HostAPI(lambda ctx: Log(ctx))

    def __init__(self, conn, call, ctx=None, plugin_id=None):
        ctx = ctx if isinstance(ctx, dict) else {}
        self._conn = conn
        self._token = call
        self.discord_srv_id = ctx.get("discord_srv_id")
        self.plugin_id = ctx.get("plugin_id") or plugin_id
        options = ctx.get("options")
        self.options = options if isinstance(options, dict) else {}

    def _host(self, method, params):
        params["call"] = self._token
        return self._conn.request(method, params)

    def __repr__(self):
        return "Context(discord_srv_id=%r, plugin_id=%r)" % (self.discord_srv_id, self.plugin_id)


class KV:
    """Key-value storage scoped to (plugin, server). Values are any JSON."""

    def __init__(self, ctx):
        self._ctx = ctx

    def get(self, key, default=None):
        """The stored value, or ``default`` when the key is missing."""
        r = self._ctx._host("kv.get", {"key": _need_str(key, "key")})
        if isinstance(r, dict) and r.get("found"):
            return r.get("value")
        return default

    def set(self, key, value):
        self._ctx._host("kv.set", {"key": _need_str(key, "key"), "value": value})

    def delete(self, key):
        """Remove key; True if it existed."""
        r = self._ctx._host("kv.delete", {"key": _need_str(key, "key")})
        return bool(r.get("deleted")) if isinstance(r, dict) else False

    def list(self, prefix="", limit=None):
        """Sorted keys starting with prefix (at most limit of them)."""
        params = {"prefix": _need_str(prefix, "prefix")}
        if limit is not None:
            params["limit"] = limit
        r = self._ctx._host("kv.list", params)
        return list(r.get("keys") or []) if isinstance(r, dict) else []

    def count(self, prefix=""):
        r = self._ctx._host("kv.count", {"prefix": _need_str(prefix, "prefix")})
        return r.get("count", 0) if isinstance(r, dict) else 0

    def get_many(self, keys):
        """{key: value} for the keys that exist (missing keys are absent)."""
        if isinstance(keys, str):
            raise errors.InvalidParams("keys must be a list of strings, not a string",
                                       data={"field": "keys"})
        keys = [_need_str(k, "keys") for k in keys]
        r = self._ctx._host("kv.get_many", {"keys": keys})
        return dict(r.get("values") or {}) if isinstance(r, dict) else {}

    def set_many(self, mapping):
        """Write all of mapping, or nothing (the host applies it atomically)."""
        values = dict(mapping)
        for k in values:
            _need_str(k, "values")
        self._ctx._host("kv.set_many", {"values": values})


class Metrics:
    """Per-day counters. Names the host records itself (messages,
    messages_sent, members_joined, members_left) are read-only."""

    def __init__(self, ctx):
        self._ctx = ctx

    def increment(self, name, value=1):
        self._ctx._host("metrics.increment", {"name": _need_str(name, "name"), "value": value})

    def query(self, name, period="7d"):
        """{"labels": ["YYYY-MM-DD", ...], "series": [{"name", "data"}]}, one
        label per day, oldest first, exactly as the host returns it."""
        return self._ctx._host(
            "metrics.query", {"name": _need_str(name, "name"), "period": _need_str(period, "period")}
        )

    def total(self, name, period="30d"):
        r = self._ctx._host(
            "metrics.total", {"name": _need_str(name, "name"), "period": _need_str(period, "period")}
        )
        return r.get("total", 0) if isinstance(r, dict) else 0


def _sql_params(params):
    if params is None:
        return []
    if isinstance(params, (str, bytes, dict)):
        raise errors.InvalidParams("sql params must be a list or tuple of values",
                                   data={"field": "params"})
    return list(params)


class SQL:
    """The plugin's own database (needs the storage:sql capability)."""

    def __init__(self, ctx):
        self._ctx = ctx

    def query(self, sql, params=None):
        """Rows as a list of {column: value} dicts."""
        r = self._ctx._host("sql.query", {"sql": _need_str(sql, "sql"), "params": _sql_params(params)})
        columns = r.get("columns") or []
        return [dict(zip(columns, row)) for row in (r.get("rows") or [])]

    def execute(self, sql, params=None):
        """{"rows_affected": n, "last_insert_id": n}."""
        return self._ctx._host(
            "sql.execute", {"sql": _need_str(sql, "sql"), "params": _sql_params(params)}
        )


class Discord:
    """Discord actions, each allowed only with its declared capability."""

    def __init__(self, ctx):
        self._ctx = ctx

    def send_message(self, channel_id, content=None, embeds=None, reply_to=None):
        """Send a message; returns the host's result ({"id": message id})."""
        if content is None and not embeds:
            raise errors.InvalidParams("send_message needs content or embeds",
                                       data={"field": "content"})
        params = {"channel_id": _snowflake(channel_id, "channel_id")}
        if content is not None:
            params["content"] = _need_str(content, "content")
        if embeds:
            params["embeds"] = list(embeds)
        if reply_to is not None:
            params["reply_to"] = _snowflake(reply_to, "reply_to")
        return self._ctx._host("discord.send_message", params)

    def reply(self, message, content=None, embeds=None):
        """Answer a message (a message_create payload) in its channel."""
        if not isinstance(message, dict):
            raise errors.InvalidParams("reply needs the message payload dict",
                                       data={"field": "message"})
        return self.send_message(
            message.get("channel_id"), content=content, embeds=embeds, reply_to=message.get("id")
        )

    def edit_message(self, channel_id, message_id, content):
        self._ctx._host("discord.edit_message", {
            "channel_id": _snowflake(channel_id, "channel_id"),
            "message_id": _snowflake(message_id, "message_id"),
            "content": _need_str(content, "content"),
        })

    def delete_message(self, channel_id, message_id):
        self._ctx._host("discord.delete_message", {
            "channel_id": _snowflake(channel_id, "channel_id"),
            "message_id": _snowflake(message_id, "message_id"),
        })

    def add_reaction(self, channel_id, message_id, emoji):
        self._reaction("discord.add_reaction", channel_id, message_id, emoji)

    def remove_reaction(self, channel_id, message_id, emoji):
        self._reaction("discord.remove_reaction", channel_id, message_id, emoji)

    def _reaction(self, method, channel_id, message_id, emoji):
        self._ctx._host(method, {
            "channel_id": _snowflake(channel_id, "channel_id"),
            "message_id": _snowflake(message_id, "message_id"),
            "emoji": _need_str(emoji, "emoji"),
        })

    def add_role(self, user_id, role_id):
        self._role("discord.add_role", user_id, role_id)

    def remove_role(self, user_id, role_id):
        self._role("discord.remove_role", user_id, role_id)

    def _role(self, method, user_id, role_id):
        self._ctx._host(method, {
            "user_id": _snowflake(user_id, "user_id"),
            "role_id": _snowflake(role_id, "role_id"),
        })

    def get_member(self, user_id):
        """The Discord member object, as a dict."""
        return self._ctx._host("discord.get_member", {"user_id": _snowflake(user_id, "user_id")})


class Log:
    """Plugin logs, recorded by the host (print() goes to stderr instead)."""

    def __init__(self, ctx):
        self._ctx = ctx

    def _log(self, level, msg):
        self._ctx._host("log", {"level": level, "message": str(msg)})

    def debug(self, msg):
        self._log("debug", msg)

    def info(self, msg):
        self._log("info", msg)

    def warning(self, msg):
        self._log("warning", msg)

    warn = warning

    def error(self, msg):
        self._log("error", msg)

