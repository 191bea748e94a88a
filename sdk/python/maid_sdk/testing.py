"""Test a plugin without the maid binary: ``from maid_sdk.testing import Harness``.

    from maid_sdk.testing import Harness

    h = Harness("path/to/plugin", server_id="1", options={"greeting": "Hi"})
    h.event("message_create", {"content": "!hello", "channel_id": "5", "author": {"id": "9"}})
    assert h.call("get_count") == {"value": 1}   # a dashboard handler, by its name
    assert h.kv["count"] == 1                     # this server's KV, as a dict
    assert h.actions[0]["method"] == "discord.send_message"

The harness loads the plugin the way the runner does (its folder first on
sys.path, then its ``lib/``, the entry script run as ``__main__``; its
``plugin.run()`` registers the plugin instead of serving stdin), and
answers the plugin's host calls in memory, scoped to the server of the
call: KV (``h.kv``), metrics (``h.metrics``), SQL on SQLite (``h.sql``),
Discord actions (recorded in ``h.actions``) and logs (``h.logs``). The
manifest's capabilities are enforced and the host's limits and rules
applied, with the exception types the host raises (maid_sdk.errors), so a
handler's ``except CapabilityError`` works here as in production. Nothing
uses the network, threads or the maid binary; plain ``python3`` and
``unittest`` or pytest are enough.

Several servers: pass ``server_id=`` to event/call/command, and read a
server's data with ``h.server("2").kv`` (``h.kv`` is the default server's).
"""
import copy
import datetime
import json
import math
import os
import re
import runpy
import sqlite3
import sys

from maid_sdk import _aio, errors
from maid_sdk.context import Context
from maid_sdk.plugin import PROTOCOL_VERSION, SDK_VERSION, Plugin

__all__ = ["Harness", "Server"]

# The host's limits (engine.DefaultLimits); a plugin that passes them here
# fails the same way on the host.
KEY_BYTES = 256
VALUE_BYTES = 64 << 10
BATCH_KEYS = 1000
MAX_KEYS = 10_000
QUOTA_BYTES = 10 << 20
METRIC_NAMES = 256
CONTENT_CHARS = 2000
SQL_MAX_ROWS = 1000

# Names the host records itself: read-only for plugins (engine/services.go).
BUILTIN_METRICS = {"messages", "messages_sent", "members_joined", "members_left"}
_METRIC_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

# Host method -> the capability the manifest must declare ("" none), as in
# engine/hostmethods.go.
CAPABILITIES = {
    "kv.get": "storage:kv", "kv.set": "storage:kv", "kv.delete": "storage:kv",
    "kv.list": "storage:kv", "kv.count": "storage:kv", "kv.get_many": "storage:kv",
    "kv.set_many": "storage:kv",
    "metrics.increment": "metrics:write", "metrics.query": "", "metrics.total": "",
    "sql.query": "storage:sql", "sql.execute": "storage:sql",
    "discord.send_message": "discord:send_messages", "discord.edit_message": "discord:send_messages",
    "discord.delete_message": "discord:send_messages", "discord.add_reaction": "discord:send_messages",
    "discord.remove_reaction": "discord:send_messages",
    "discord.add_role": "discord:manage_roles", "discord.remove_role": "discord:manage_roles",
    "discord.get_member": "discord:read_members",
    "log": "",
}

# discord.* method -> params it requires (engine/hostmethods.go).
_DISCORD_REQUIRED = {
    "discord.send_message": ("channel_id",),
    "discord.edit_message": ("channel_id", "message_id"),
    "discord.delete_message": ("channel_id", "message_id"),
    "discord.add_reaction": ("channel_id", "message_id", "emoji"),
    "discord.remove_reaction": ("channel_id", "message_id", "emoji"),
    "discord.add_role": ("user_id", "role_id"),
    "discord.remove_role": ("user_id", "role_id"),
    "discord.get_member": ("user_id",),
}

_SERVER_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


def _invalid(method, msg, field=None):
    return errors.InvalidParams("%s: invalid input: %s" % (method, msg),
                                data={"field": field} if field else None)


def _limit(method, msg):
    return errors.LimitError("%s: limit exceeded: %s" % (method, msg))


def _json_size(value):
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def _version_tuple(v):
    try:
        return tuple(int(x) for x in str(v).split("-")[0].split("."))
    except ValueError:
        raise ValueError("manifest sdk %r is not a version like 0.5.1" % (v,)) from None


class Server:
    """One server's data as the plugin sees it: ``kv`` (a dict of decoded
    JSON values), ``metrics`` (name -> today's total), ``metric_days``
    (name -> {"YYYY-MM-DD": value}), ``sql`` (the server's sqlite3
    connection) and ``actions`` (the Discord actions made on this server)."""

    def __init__(self, harness, server_id):
        self._h = harness
        self.id = server_id
        self.kv = {}
        self.metric_days = {}
        self.sql = sqlite3.connect(":memory:", isolation_level=None)
        self.members = {}

    @property
    def metrics(self):
        return {name: sum(days.values()) for name, days in self.metric_days.items()}

    @property
    def actions(self):
        return [a for a in self._h.actions if a["server_id"] == self.id]


class _Host:
    """Stands in for the connection: answers the plugin's host calls."""

    def __init__(self, harness):
        self._h = harness
        self.closed = False
        self.max_line_bytes = 1 << 20

    def request(self, method, params):
        token = params.get("call")
        server_id = self._h._calls.get(token)
        if method != "log" and server_id is None:
            raise errors.ScopeError(
                "call %r is not a host call in progress (host calls are only allowed while "
                "serving an event, dashboard or command call, with its call token)" % (token,))
        # The real connection serializes params as JSON: so does this.
        try:
            params = json.loads(json.dumps(params, allow_nan=False))
        except (TypeError, ValueError) as e:
            raise errors.InvalidParams("%s: params are not JSON-serializable: %s" % (method, e)) from None
        params.pop("call", None)
        return self._h._serve(server_id, method, params)


class Harness:
    """A plugin loaded for tests, with an in-memory host.

    ``path`` is the plugin folder (with manifest.json or plugin.json).
    ``server_id`` is the default server of event/call/command and of
    ``kv``/``metrics``/``sql``/``actions``; ``options`` are that server's
    option values (defaults from the manifest fill the rest; other servers
    take ``options_for={"2": {...}}`` or defaults). ``now`` is the host's
    clock for metrics days (a datetime in UTC; default: the real clock).
    """

    def __init__(self, path, server_id="1", options=None, options_for=None, now=None,
                 plugin_id=None):
        self.path = os.path.abspath(path)
        self.manifest = self._read_manifest()
        self.plugin_id = plugin_id or self.manifest.get("id") or os.path.basename(self.path)
        self.capabilities = set(self.manifest.get("capabilities") or [])
        self.server_id = self._check_server(server_id)
        self._options = {self.server_id: dict(options or {})}
        for sid, opts in (options_for or {}).items():
            self._options[self._check_server(sid)] = dict(opts)
        for sid, opts in self._options.items():
            self._resolve_options(opts)
        self._now = now
        self._servers = {}
        self._calls = {}
        self._next_call = 0
        self._next_message = 1000
        self.actions = []
        self.logs = []
        self._host = _Host(self)
        self.plugin = self._load()

    # -- loading ---------------------------------------------------------

    def _read_manifest(self):
        names = [n for n in ("manifest.json", "plugin.json")
                 if os.path.isfile(os.path.join(self.path, n))]
        if len(names) != 1:
            raise ValueError("%s: want exactly one of manifest.json or plugin.json, found %s"
                             % (self.path, names or "none"))
        with open(os.path.join(self.path, names[0]), encoding="utf-8") as f:
            m = json.load(f)
        if not isinstance(m, dict):
            raise ValueError("%s: the manifest must be a JSON object" % names[0])
        m.setdefault("script", "__main__.py")
        # Engine.Install refuses a plugin that needs a newer SDK than the
        # host ships: so does the harness, against this SDK.
        need = m.get("sdk")
        if need and _version_tuple(need) > _version_tuple(SDK_VERSION):
            raise ValueError("plugin %r needs SDK %s, this maid_sdk is %s"
                             % (m.get("id"), need, SDK_VERSION))
        return m

    def _resolve_options(self, given):
        schema = {o.get("id"): o for o in self.manifest.get("options") or [] if isinstance(o, dict)}
        for key in given:
            if key not in schema:
                raise ValueError("option %r is not in the manifest's options (%s)"
                                 % (key, ", ".join(sorted(k for k in schema if k)) or "none"))
        for key, o in schema.items():
            if key not in given and "default" in o:
                given[key] = copy.deepcopy(o["default"])

    def _load(self):
        entry = os.path.normpath(os.path.join(self.path, self.manifest["script"]))
        if not os.path.isfile(entry):
            raise ValueError("entry script %r not found in the plugin" % self.manifest["script"])
        found = []
        real_run = Plugin.run

        def register(plugin):
            found.append(plugin)

        before = set(sys.modules)
        old_path, old_cwd = list(sys.path), os.getcwd()
        lib = os.path.join(self.path, "lib")
        sys.path[:0] = [self.path] + ([lib] if os.path.isdir(lib) else [])
        Plugin.run = register
        try:
            os.chdir(self.path)
            runpy.run_path(entry, run_name="__main__")
        finally:
            Plugin.run = real_run
            os.chdir(old_cwd)
            sys.path[:] = old_path
            # The plugin's own modules (and vendored ones) leave sys.modules,
            # so another Harness can load a plugin with a same-named module.
            prefix = self.path + os.sep
            for name in set(sys.modules) - before:
                f = getattr(sys.modules[name], "__file__", None) or ""
                if os.path.abspath(f).startswith(prefix):
                    del sys.modules[name]
        if not found:
            raise ValueError("%s never called plugin.run(): the runner would wait forever" % entry)
        plugin = found[-1]
        plugin.plugin_id = self.plugin_id
        plugin.host_version = "testing"
        plugin.limits = {"max_line_bytes": self._host.max_line_bytes}
        # What maid.hello would tell the host.
        self.hello = {
            "protocol": PROTOCOL_VERSION, "sdk_version": SDK_VERSION,
            "events": list(plugin._handlers["events"]),
            "dashboard": list(plugin._handlers["dashboard"]),
            "commands": list(plugin._handlers["commands"]),
        }
        return plugin

    # -- servers ---------------------------------------------------------

    @staticmethod
    def _check_server(server_id):
        server_id = str(server_id)
        if not _SERVER_ID.match(server_id):
            raise ValueError("server_id %r must be 1-64 letters, digits, - or _" % server_id)
        return server_id

    def server(self, server_id=None):
        """The data of one server (created empty on first use)."""
        sid = self._check_server(self.server_id if server_id is None else server_id)
        s = self._servers.get(sid)
        if s is None:
            s = self._servers[sid] = Server(self, sid)
        return s

    @property
    def kv(self):
        return self.server().kv

    @property
    def metrics(self):
        return self.server().metrics

    @property
    def sql(self):
        return self.server().sql

    def options(self, server_id=None):
        sid = self._check_server(self.server_id if server_id is None else server_id)
        if sid not in self._options:
            self._options[sid] = {}
            self._resolve_options(self._options[sid])
        return self._options[sid]

    # -- calling the plugin ------------------------------------------------

    def event(self, type, payload=None, server_id=None):
        """Deliver a gateway event (lower snake case type). Returns None; the
        handler's exception propagates. An event the plugin has no handler
        for is ignored, as the host does."""
        if type not in self.plugin._handlers["events"]:
            return None
        self._run("events", type, payload, server_id)
        return None

    def call(self, handler, params=None, server_id=None):
        """Call a @plugin.on_dashboard handler by name and return its result.
        params gets discord_srv_id, as from the dashboard."""
        params = dict(params or {})
        sid = self._check_server(self.server_id if server_id is None else server_id)
        params["discord_srv_id"] = sid
        return self._run("dashboard", handler, params, sid)

    def command(self, name, interaction=None, server_id=None):
        """Run a slash command; returns {"content": ...} or {} as the host gets it."""
        result = self._run("commands", name, interaction, server_id)
        if result is None:
            return {}
        if isinstance(result, str):
            return {"content": result}
        return result

    def _run(self, table, name, arg, server_id):
        sid = self._check_server(self.server_id if server_id is None else server_id)
        fn = self.plugin._handlers[table].get(name)
        if fn is None:
            kind = {"events": "event", "dashboard": "dashboard handler", "commands": "command"}[table]
            raise errors.MethodNotFound("no %s %r in this plugin" % (kind, name))
        # What crosses the wire is JSON: the handler gets a decoded copy.
        arg = json.loads(json.dumps(arg if arg is not None else {}))
        self._next_call += 1
        token = "test-%d" % self._next_call
        self._calls[token] = sid
        ctx = Context(self._host, token, {
            "discord_srv_id": sid, "plugin_id": self.plugin_id,
            "options": json.loads(json.dumps(self.options(sid))),
        }, plugin_id=self.plugin_id)
        self.server(sid)
        old_cwd = os.getcwd()
        os.chdir(self.path)
        try:
            result = fn(ctx, arg)
            if hasattr(result, "__await__") or type(result).__name__ == "coroutine":
                result = _aio.run(result)
        finally:
            os.chdir(old_cwd)
            # The call is over: its context's host calls now fail (ScopeError).
            del self._calls[token]
        if table == "events":
            return None
        try:
            data = json.dumps(result, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as e:
            raise errors.HostError("%s %r returned a value that is not JSON-serializable: %s"
                                   % (table, name, e)) from None
        if len(data) > self._host.max_line_bytes:
            raise errors.LimitError("%s %r returned %d bytes of JSON; the max line size is %d bytes"
                                    % (table, name, len(data), self._host.max_line_bytes))
        return json.loads(data)

    def close(self):
        for s in self._servers.values():
            s.sql.close()
        _aio.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the host ----------------------------------------------------------

    def _today(self):
        now = self._now or datetime.datetime.now(datetime.timezone.utc)
        return now.date()

    def _serve(self, sid, method, p):
        need = CAPABILITIES.get(method)
        if need is None:
            raise errors.MethodNotFound("host method %r does not exist" % method)
        if need and need not in self.capabilities:
            raise errors.CapabilityError(
                "%s needs capability %r; declare it in the manifest's capabilities" % (method, need))
        if method == "log":
            return self._log(p)
        s = self.server(sid)
        kind = method.split(".", 1)[0]
        return getattr(self, "_" + kind)(s, method, p)

    def _log(self, p):
        level = p.get("level") or "info"
        level = {"debug": "info", "warn": "warning"}.get(level, level)
        if level not in ("info", "warning", "error"):
            raise errors.InvalidParams("log: level must be debug, info, warning or error")
        self.logs.append({"level": level, "message": str(p.get("message", ""))})
        return {}

    @staticmethod
    def _key(method, key):
        if not isinstance(key, str):
            raise _invalid(method, "key must be a string", "key")
        if key == "":
            raise _invalid(method, "key must not be empty")
        if len(key.encode("utf-8", "surrogatepass")) > KEY_BYTES:
            raise _limit(method, "key is %d bytes; the limit is %d" % (len(key.encode("utf-8")), KEY_BYTES))
        return key

    @staticmethod
    def _value(method, key, value):
        n = _json_size(value)
        if n > VALUE_BYTES:
            raise _limit(method, "value of %r is %d bytes of JSON; the limit is %d" % (key, n, VALUE_BYTES))

    @staticmethod
    def _quota(method, kv):
        size = sum(len(k.encode("utf-8")) + _json_size(v) for k, v in kv.items())
        if len(kv) > MAX_KEYS or size > QUOTA_BYTES:
            raise _limit(method, "quota exceeded")

    def _kv(self, s, method, p):
        kv = s.kv
        if method == "kv.get":
            key = self._key(method, p.get("key"))
            if key in kv:
                return {"value": copy.deepcopy(kv[key]), "found": True}
            return {"value": None, "found": False}
        if method == "kv.set":
            key = self._key(method, p.get("key"))
            if "value" not in p:
                raise _invalid(method, "value of %r is missing" % key)
            self._value(method, key, p["value"])
            trial = dict(kv)
            trial[key] = p["value"]
            self._quota(method, trial)
            kv[key] = p["value"]
            return {}
        if method == "kv.delete":
            key = self._key(method, p.get("key"))
            return {"deleted": kv.pop(key, _MISSING) is not _MISSING}
        if method in ("kv.list", "kv.count"):
            prefix = p.get("prefix") or ""
            keys = sorted(k for k in kv if k.startswith(prefix))
            if method == "kv.count":
                return {"count": len(keys)}
            limit = p.get("limit") or 0
            if limit <= 0 or limit > MAX_KEYS:
                limit = MAX_KEYS
            return {"keys": keys[:limit]}
        if method == "kv.get_many":
            keys = p.get("keys") or []
            if len(keys) > BATCH_KEYS:
                raise _limit(method, "%d keys in one call; the limit is %d" % (len(keys), BATCH_KEYS))
            for k in keys:
                self._key(method, k)
            return {"values": {k: copy.deepcopy(kv[k]) for k in keys if k in kv}}
        if method == "kv.set_many":
            values = p.get("values") or {}
            if len(values) > BATCH_KEYS:
                raise _limit(method, "%d keys in one call; the limit is %d" % (len(values), BATCH_KEYS))
            for k, v in values.items():
                self._key(method, k)
                self._value(method, k, v)
            trial = dict(kv)
            trial.update(values)
            self._quota(method, trial)
            kv.update(values)  # all or nothing: checked above
            return {}
        raise errors.MethodNotFound("host method %r does not exist" % method)

    def _metrics(self, s, method, p):
        name = p.get("name")
        if not isinstance(name, str) or not _METRIC_NAME.match(name):
            raise _invalid(method, "metric name %r must be 1-64 letters, digits, _ . : or -" % (name,))
        if method == "metrics.increment":
            if name in BUILTIN_METRICS:
                raise _invalid(method, "metric %r is recorded by the host and read-only for plugins" % name)
            v = p.get("value", 1)
            if v is None:
                v = 1
            if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isinf(v) or abs(v) > 1e12:
                raise _invalid(method, "value must be a finite number of at most 1e12")
            if name not in s.metric_days and len(s.metric_days) >= METRIC_NAMES:
                raise _limit(method, "quota exceeded: %d distinct metric names" % METRIC_NAMES)
            day = self._today().isoformat()
            days = s.metric_days.setdefault(name, {})
            days[day] = days.get(day, 0) + v
            return {}
        period = p.get("period") or "7d"
        m = re.match(r"^(\d+)d$", period) if isinstance(period, str) else None
        if not m or not 1 <= int(m.group(1)) <= 365:
            raise _invalid(method, "period %r must be 1d to 365d" % (period,))
        n = int(m.group(1))
        today = self._today()
        labels = [(today - datetime.timedelta(days=n - 1 - i)).isoformat() for i in range(n)]
        days = s.metric_days.get(name, {})
        data = [float(days.get(d, 0)) for d in labels]
        if method == "metrics.total":
            return {"total": float(sum(data))}
        return {"labels": labels, "series": [{"name": "messages" if name == "messages_sent" else name,
                                              "data": data}]}

    def _sql(self, s, method, p):
        sql = p.get("sql")
        if not isinstance(sql, str) or not sql:
            raise _invalid(method, "sql must not be empty")
        args = p.get("params") or []
        for a in args:
            if isinstance(a, (list, dict)):
                raise _invalid(method, "sql params must be JSON scalars (null, bool, number, string)")
        try:
            cur = s.sql.execute(sql, args)
            if method == "sql.execute":
                return {"rows_affected": max(cur.rowcount, 0), "last_insert_id": cur.lastrowid or 0}
            columns = [d[0] for d in cur.description or []]
            rows = cur.fetchmany(SQL_MAX_ROWS + 1)
        except (sqlite3.Warning, sqlite3.Error) as e:
            raise _invalid(method, str(e)) from None
        if len(rows) > SQL_MAX_ROWS:
            raise errors.LimitError("%s: sql limit exceeded: more than %d rows" % (method, SQL_MAX_ROWS))
        return {"columns": columns, "rows": [list(r) for r in rows]}

    def _discord(self, s, method, p):
        for f in _DISCORD_REQUIRED[method]:
            if not p.get(f):
                raise _invalid(method, "%s is required" % f)
        if method == "discord.send_message":
            if not p.get("content") and not p.get("embeds"):
                raise _invalid(method, "content or embeds is required")
            if len(p.get("content") or "") > CONTENT_CHARS:
                raise _limit(method, "content is over Discord's 2000 characters")
        if method == "discord.get_member":
            member = s.members.get(p["user_id"])
            if member is None:
                raise errors.NotFoundError("discord.get_member: not found: member %s (set h.server(%r).members[%r])"
                                           % (p["user_id"], s.id, p["user_id"]))
            return copy.deepcopy(member)
        action = {"method": method, "server_id": s.id, "params": p}
        self.actions.append(action)
        if method == "discord.send_message":
            self._next_message += 1
            action["id"] = str(self._next_message)
            return {"id": action["id"]}
        return {}


_MISSING = object()
