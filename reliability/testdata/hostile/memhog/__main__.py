# Allocates far past its 64 MiB limit (2 GiB, touched so it is resident).
from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_dashboard("hog")
def hog(ctx, params):
    chunks = []
    for _ in range(256):
        chunks.append(bytearray(b"x" * (8 << 20)))
    return {"allocated_mb": 8 * len(chunks)}


@plugin.on_dashboard("ping")
def ping(ctx, params):
    return {"ok": True}


plugin.run()
