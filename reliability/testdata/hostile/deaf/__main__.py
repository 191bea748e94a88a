# Says hello, then never reads stdin again: the host's writes to it fill
# the pipe and block.
import json
import time

from maid_sdk import _transport

out = _transport.stdout()
inp = _transport.stdin()
out.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "maid.hello", "params": {
    "protocol": 1, "sdk_version": "0.0.0-deaf", "events": [], "dashboard": ["ping"], "commands": []}}).encode() + b"\n")
out.flush()
inp.readline()  # the hello's answer
while True:
    time.sleep(1)
