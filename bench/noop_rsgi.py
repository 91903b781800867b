"""The edge's peer under granian: a handler that does nothing but answer.

``granian --interface asginl --working-dir bench noop_rsgi:asgi_application``
serves it through ASGI, the interface `paylink serve` runs the edge with (it
needs ASGI's raw path: issue 9); ``noop_rsgi:application`` is the same handler
for RSGI. Every request gets 200 with the same headers and a body of the same
size as the live link's answer through `paylink serve` (the bench passes them
in ``BENCH_NOOP_HEADERS``, a JSON list of [name, value] pairs, and
``BENCH_NOOP_BODY_BYTES``). What `paylink serve` does beyond this handler, under
the same server, interface and workers, is the edge's own cost.
"""

import json
import os

HEADERS = [tuple(pair) for pair in json.loads(os.environ.get("BENCH_NOOP_HEADERS", "[]"))]
BODY = b"x" * int(os.environ.get("BENCH_NOOP_BODY_BYTES", "0"))
_ASGI_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in HEADERS],
}


async def application(scope, proto):
    """RSGI: answer every request with the constant response."""
    proto.response_bytes(200, HEADERS, BODY)


async def asgi_application(scope, receive, send):
    """ASGI (lifespan off): answer every HTTP request with the constant response."""
    if scope["type"] != "http":
        return
    await send(_ASGI_START)
    await send({"type": "http.response.body", "body": BODY})
