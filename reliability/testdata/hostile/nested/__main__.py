# Answers dashboard calls by hand with JSON nested far deeper than any
# decoder's limit (json.dumps would refuse to build it).
import json

from maid_sdk import _transport

out = _transport.stdout()
inp = _transport.stdin()


def send_raw(data):
    out.write(data + b"\n")
    out.flush()


send_raw(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "maid.hello", "params": {
    "protocol": 1, "sdk_version": "0.0.0-nested", "events": [],
    "dashboard": ["deep", "deep_object", "ping"], "commands": []}}).encode())
while True:
    line = inp.readline()
    if not line:
        break
    msg = json.loads(line)
    if "method" not in msg or msg.get("id") is None:
        continue
    rid = str(msg["id"]).encode()
    handler = (msg.get("params") or {}).get("handler")
    if handler == "deep":
        depth = 200000
        send_raw(b'{"jsonrpc":"2.0","id":' + rid + b',"result":' + b"[" * depth + b"]" * depth + b"}")
    elif handler == "deep_object":
        depth = 50000
        send_raw(b'{"jsonrpc":"2.0","id":' + rid + b',"result":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}")
    else:
        send_raw(b'{"jsonrpc":"2.0","id":' + rid + b',"result":{"ok":true}}')
