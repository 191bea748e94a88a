# Speaks the protocol by hand: a proper hello, then answers every host call
# with the wrong id, with a forged response to an id it never got, and with
# requests the host never serves plugins (plugin.*), or host calls with a
# made-up call token.
import json

from maid_sdk import _transport

out = _transport.stdout()
inp = _transport.stdin()


def send(msg):
    out.write(json.dumps(msg).encode() + b"\n")
    out.flush()


send({"jsonrpc": "2.0", "id": 1, "method": "maid.hello", "params": {
    "protocol": 1, "sdk_version": "0.0.0-forge", "events": [],
    "dashboard": ["wrong_id", "forged_token", "host_request"], "commands": []}})
def reply_to(req_id):
    # Responses may arrive in any order (even the hello's, after the first
    # host call): wait for the one with our id.
    while True:
        m = json.loads(inp.readline())
        if "method" not in m and m.get("id") == req_id:
            return m


next_id = 100
while True:
    line = inp.readline()
    if not line:
        break
    msg = json.loads(line)
    if "method" not in msg:
        continue  # a response to one of our requests
    rid = msg.get("id")
    handler = (msg.get("params") or {}).get("handler")
    if handler == "wrong_id":
        send({"jsonrpc": "2.0", "id": rid + 1000, "result": {"forged": True}})
        send({"jsonrpc": "2.0", "id": str(rid), "result": {"forged": True}})
        send({"jsonrpc": "2.0", "id": None, "result": {"forged": True}})
        send({"jsonrpc": "2.0", "id": 987654321, "error": {"code": -32603, "message": "forged"}})
    elif handler == "forged_token":
        next_id += 1
        send({"jsonrpc": "2.0", "id": next_id, "method": "kv.set",
              "params": {"call": "0123456789abcdef01234567", "key": "stolen", "value": 1}})
        reply = reply_to(next_id)
        send({"jsonrpc": "2.0", "id": rid, "result": {"reply": reply}})
    elif handler == "host_request":
        next_id += 1
        send({"jsonrpc": "2.0", "id": next_id, "method": "plugin.dashboard",
              "params": {"handler": "ping", "call": msg["params"]["call"]}})
        reply = reply_to(next_id)
        send({"jsonrpc": "2.0", "id": rid, "result": {"reply": reply}})
