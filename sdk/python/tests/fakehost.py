"""A fake maid host: runs `python3 -m maid_sdk` over pipes and speaks the
protocol of docs/protocol.md to it, serving host calls from memory.

The host side uses reader threads so a misbehaving plugin fails a test with
a timeout instead of hanging it; the plugin side stays single-threaded.
"""
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading

SDK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_DIR = os.path.dirname(os.path.dirname(SDK_DIR))
TIMEOUT = 60  # seconds; generous (wasm starts slowly), only to turn a hang into a failure

_wasm_cmd = None


def wasm_command():
    """The command prefix that runs CPython built for WASI (python.wasm from
    `make python-wasm`, dir from $PYTHON_WASM_DIR) under the wazero CLI,
    built once from the module cache. Raises unittest.SkipTest when either
    is missing, or fails under CI=true, where they must be present."""
    global _wasm_cmd
    if _wasm_cmd is not None:
        return _wasm_cmd
    import unittest

    def missing(why):
        if os.environ.get("CI") == "true":
            raise AssertionError("CI=true but the WASI python cannot run: " + why)
        raise unittest.SkipTest(why + " (run `make python-wasm`; with CI=true this fails)")

    wasm_dir = os.path.join(REPO_DIR, os.environ.get("PYTHON_WASM_DIR", "build/python-wasi"))
    wasm = os.path.join(wasm_dir, "python.wasm")
    if not os.path.isfile(wasm):
        missing("no python.wasm at %s" % wasm)
    build = os.path.join(REPO_DIR, "build")
    wazero = os.path.join(build, "wazero-cli")
    if not os.path.isfile(wazero):
        go = shutil.which("go") or ("/usr/local/go/bin/go" if os.path.isfile("/usr/local/go/bin/go") else None)
        if go is None:
            missing("no go toolchain to build the wazero CLI")
        r = subprocess.run([go, "build", "-o", wazero, "github.com/tetratelabs/wazero/cmd/wazero"],
                           cwd=REPO_DIR, capture_output=True, text=True)
        if r.returncode != 0:
            missing("building the wazero CLI failed: " + r.stderr.strip())
    cache = os.path.join(build, "wazero-cache")
    os.makedirs(cache, exist_ok=True)
    prefix = [wazero, "run", "-cachedir", cache,
                 "-mount", os.path.join(wasm_dir, "usr", "local") + ":/usr/local:ro",
                 "-mount", SDK_DIR + ":/sdk:ro",
                 "-env", "PYTHONHOME=/usr/local", "-env", "PYTHONPATH=/sdk",
                 "-env", "PYTHONDONTWRITEBYTECODE=1"]
    _wasm_cmd = (prefix, wasm)
    return _wasm_cmd

# Runs the runner with what the WASI build lacks made unusable, so a test
# fails if the SDK relies on sockets, threads, subprocesses, select or signals.
WASI_SHIM = r"""
import _thread, os, select, signal, socket, subprocess, sys, threading
def _banned(name):
    def f(*a, **k):
        raise OSError("%s is not available in the wasm sandbox" % name)
    return f
for mod, names in [
    (socket, ["socketpair", "create_connection", "fromfd"]),
    (_thread, ["start_new_thread"]),
    (threading, ["_start_new_thread"]),
    (subprocess, ["Popen"]),
    (select, ["select", "poll", "epoll"]),
    # signal.signal stays: WASI emulates it (handlers are stored, never run).
    (signal, ["set_wakeup_fd", "setitimer", "alarm", "pthread_kill"]),
    (os, ["fork", "pipe"]),
]:
    for n in names:
        if hasattr(mod, n):
            setattr(mod, n, _banned(mod.__name__ + "." + n))
# socket.socket is subclassed by ssl at import, so block construction only.
socket.socket.__init__ = _banned("socket.socket")
import runpy
runpy.run_module("maid_sdk", run_name="__main__", alter_sys=True)
"""


def compact(msg):
    return json.dumps(msg, separators=(",", ":"), ensure_ascii=False)


class HostCallError(Exception):
    """Raise from a service to answer the plugin with a JSON-RPC error."""

    def __init__(self, code, message, data=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class FakeHost:
    def __init__(self, plugin_src, wasi_shim=False, wasm=False, boot=None, files=None):
        self.dir = tempfile.mkdtemp(prefix="maid-sdk-test-")
        with open(os.path.join(self.dir, "__main__.py"), "w") as f:
            f.write(textwrap.dedent(plugin_src))
        for name, text in (files or {}).items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        env = dict(os.environ)
        env["PYTHONPATH"] = SDK_DIR
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        guest_dir = self.dir
        if wasm:
            prefix, wasm_file = wasm_command()
            cmd = prefix + ["-mount", self.dir + ":/plugin:ro", wasm_file, "-m", "maid_sdk"]
            guest_dir = "/plugin"
        elif wasi_shim:
            cmd = [sys.executable, "-c", WASI_SHIM]
        else:
            cmd = [sys.executable, "-m", "maid_sdk"]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        self.lines = queue.Queue()
        self.raw_lines = []
        self._stderr = []
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for t in self._threads:
            t.start()
        self.next_id = 1000
        self.host_calls = []  # (method, params) in arrival order
        self.kv = {}
        self.metrics = {}
        self.fail = {}  # method -> HostCallError to answer with
        self.on_host_call = None  # hook(method, params) run before answering
        self.services = {
            "kv.get": self._kv_get,
            "kv.set": self._kv_set,
            "kv.delete": self._kv_delete,
            "kv.list": self._kv_list,
            "kv.count": self._kv_count,
            "kv.get_many": self._kv_get_many,
            "kv.set_many": self._kv_set_many,
            "metrics.increment": self._metrics_increment,
            "metrics.query": self._metrics_query,
            "metrics.total": self._metrics_total,
            "log": lambda p: {},
        }
        self.send_raw(compact(boot or {"entry": "__main__.py", "dir": guest_dir}))

    # -- plumbing ----------------------------------------------------------

    def _read_stdout(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _read_stderr(self):
        for line in self.proc.stderr:
            self._stderr.append(line.decode("utf-8", "replace"))

    def stderr(self):
        self.proc.wait(TIMEOUT)
        for t in self._threads:
            t.join(TIMEOUT)
        return "".join(self._stderr)

    def send_raw(self, text):
        if isinstance(text, str):
            text = text.encode("utf-8")
        self.proc.stdin.write(text + b"\n")
        self.proc.stdin.flush()

    def send(self, msg):
        self.send_raw(compact(msg))

    def recv(self):
        """Next message from the plugin; None at EOF."""
        try:
            line = self.lines.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError("plugin sent nothing for %ss; stderr so far:\n%s"
                                 % (TIMEOUT, "".join(self._stderr)))
        if line is None:
            return None
        self.raw_lines.append(line)
        text = line.decode("utf-8")
        assert text.endswith("\n"), "line without newline: %r" % text
        msg = json.loads(text)
        # The SDK must write compact JSON with raw UTF-8.
        assert text[:-1] == compact(msg), "not compact JSON: %r" % text
        return msg

    def close(self):
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def wait(self):
        self.close()
        return self.proc.wait(TIMEOUT)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- protocol ----------------------------------------------------------

    def handshake(self, limits=None, plugin_id="welcome"):
        hello = self.recv()
        assert hello is not None, "plugin exited before hello; stderr:\n" + self.stderr()
        self.hello = hello
        self.send({"jsonrpc": "2.0", "id": hello["id"], "result": {
            "protocol": 1, "plugin_id": plugin_id, "host_version": "0.1.0",
            "limits": limits or {"max_line_bytes": 1048576, "max_in_flight": 64,
                                 "dashboard_timeout_ms": 10000, "event_timeout_ms": 5000}}})
        return hello

    def request(self, method, params, req_id=None):
        """Send a host request without waiting; returns its id."""
        if req_id is None:
            self.next_id += 1
            req_id = self.next_id
        self.send({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params})
        return req_id

    def serve_until(self, want_ids):
        """Serve the plugin's host calls until responses for all want_ids
        arrived; returns {id: response} and the arrival order."""
        want = set(want_ids)
        got, order = {}, []
        while want - set(got):
            msg = self.recv()
            if msg is None:
                raise AssertionError("plugin exited while host waited for %s; stderr:\n%s"
                                     % (sorted(want - set(got)), self.stderr()))
            if "method" in msg:
                self._serve_host_call(msg)
                continue
            got[msg["id"]] = msg
            order.append(msg["id"])
        return got, order

    def call(self, method, params):
        req_id = self.request(method, params)
        got, _ = self.serve_until([req_id])
        return got[req_id]

    def dashboard(self, handler, params=None, call="tok-1", ctx=None):
        return self.call("plugin.dashboard", {
            "call": call, "ctx": ctx or self.ctx(), "handler": handler,
            "params": params if params is not None else {"discord_srv_id": "1"}})

    def event(self, type_, event, call="tok-e", ctx=None):
        return self.call("plugin.event", {"call": call, "ctx": ctx or self.ctx(),
                                          "type": type_, "event": event})

    def command(self, name, interaction, call="tok-c", ctx=None):
        return self.call("plugin.command", {"call": call, "ctx": ctx or self.ctx(),
                                            "command": name, "interaction": interaction})

    @staticmethod
    def ctx(server="1", options=None):
        return {"discord_srv_id": server, "plugin_id": "welcome", "options": options or {}}

    def _serve_host_call(self, msg):
        method, params = msg["method"], msg.get("params")
        self.host_calls.append((method, params))
        if self.on_host_call:
            self.on_host_call(method, params)
        try:
            if method in self.fail:
                raise self.fail[method]
            svc = self.services.get(method)
            if svc is None:
                raise HostCallError(-32601, "unknown method %s" % method)
            result = svc(params)
        except HostCallError as e:
            err = {"code": e.code, "message": e.message}
            if e.data is not None:
                err["data"] = e.data
            self.send({"jsonrpc": "2.0", "id": msg["id"], "error": err})
            return
        self.send({"jsonrpc": "2.0", "id": msg["id"], "result": result})

    # -- in-memory services --------------------------------------------------

    def _kv_get(self, p):
        if p["key"] in self.kv:
            return {"value": self.kv[p["key"]], "found": True}
        return {"value": None, "found": False}

    def _kv_set(self, p):
        self.kv[p["key"]] = p["value"]
        return {}

    def _kv_delete(self, p):
        return {"deleted": self.kv.pop(p["key"], KeyError) is not KeyError}

    def _kv_list(self, p):
        keys = sorted(k for k in self.kv if k.startswith(p["prefix"]))
        if p.get("limit") is not None:
            keys = keys[: p["limit"]]
        return {"keys": keys}

    def _kv_count(self, p):
        return {"count": sum(1 for k in self.kv if k.startswith(p["prefix"]))}

    def _kv_get_many(self, p):
        return {"values": {k: self.kv[k] for k in p["keys"] if k in self.kv}}

    def _kv_set_many(self, p):
        self.kv.update(p["values"])
        return {}

    def _metrics_increment(self, p):
        self.metrics[p["name"]] = self.metrics.get(p["name"], 0) + p.get("value", 1)
        return {}

    def _metrics_query(self, p):
        days = int(p["period"][:-1])
        labels = ["2026-11-%02d" % (d + 1) for d in range(days)]
        data = [i * 10 for i in range(days)]
        return {"labels": labels, "series": [{"name": p["name"], "data": data}]}

    def _metrics_total(self, p):
        return {"total": self.metrics.get(p["name"], 0)}
