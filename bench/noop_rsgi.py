"""The edge's peer under granian: an RSGI handler that does nothing but answer.

``granian --interface rsgi --working-dir bench noop_rsgi:application`` serves
it; every request gets 200 with the same headers and a body of the same size
as the live link's answer through `paylink serve` (the bench passes them in
``BENCH_NOOP_HEADERS``, a JSON list of [name, value] pairs, and
``BENCH_NOOP_BODY_BYTES``). What `paylink serve` does beyond this handler is
the edge's own cost.
"""

import json
import os

HEADERS = [tuple(pair) for pair in json.loads(os.environ.get("BENCH_NOOP_HEADERS", "[]"))]
BODY = b"x" * int(os.environ.get("BENCH_NOOP_BODY_BYTES", "0"))


async def application(scope, proto):
    """Answer every request with the constant response."""
    proto.response_bytes(200, HEADERS, BODY)
