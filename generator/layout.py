"""Where things live inside ``build/``: the one agreement between the builder and the edge.

Nothing here may reveal a token. A snapshot's file name is a digest of the
link's random id, so a reader of ``build/`` can neither make a working link
nor tell one customer's page from another's.
"""

import hashlib

SNAPSHOT_DIR = "p"
ASSETS_DIR = "assets"
NOT_FOUND_PAGE = "404.html"
GONE_PAGE = "410.html"
ROBOTS = "robots.txt"
TEMP_PREFIX = ".tmp-"

# 32 hex characters (128 bits) of SHA-256: enough to never collide, short in a listing.
_SNAPSHOT_DIGEST_HEX = 32


def snapshot_name(link_id: str) -> str:
    """Return the file name (inside ``SNAPSHOT_DIR``) of the snapshot for a link id."""
    digest = hashlib.sha256(b"paylink.snapshot\x00" + link_id.encode("ascii")).hexdigest()
    return digest[:_SNAPSHOT_DIGEST_HEX] + ".html"
