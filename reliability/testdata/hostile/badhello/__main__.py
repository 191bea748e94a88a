# Says hello with a protocol version the host does not speak.
import json
import time

from maid_sdk import _transport

out = _transport.stdout()
out.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "maid.hello", "params": {
    "protocol": 99, "sdk_version": "9.9.9", "events": [], "dashboard": ["ping"], "commands": []}}).encode() + b"\n")
out.flush()
while True:
    time.sleep(1)
