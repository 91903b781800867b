"""Link tokens: the signed, unguessable part of each customer's URL.

A token is ``{link_id}.{signature}``: ``link_id`` is 128 random bits
(22 URL-safe base64 characters) and the signature is itsdangerous' HMAC-SHA256
over it with the site's key and a salt used for nothing else. The token never
carries the customer's id, so one token tells nothing about another.

The tokens are itsdangerous' own, byte for byte (``Signer(keys, salt=LINK_SALT,
key_derivation="hmac", digest_method=sha256)``; tests/test_tokens_fast.py checks
it), but signed and verified here: itsdangerous derives each key again on every
call, which was a third of the edge's Python time per request. ``LinkSigner``
derives each key once.

This module is shared by the generator and the edge, and imports nothing of
paylink's: only the standard library.
"""

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Sequence
from pathlib import Path

LINK_SALT = "paylink.link"
KEY_ENV = "PAYLINK_SECRET_KEY"
LINK_ID_BYTES = 16  # 128 random bits

# link id (22 chars of base64url) "." signature (43 chars of base64url, SHA-256, unpadded).
# The last character of each carries padding bits that must be zero: without this, base64
# decoding would accept four spellings of one signature, and a link would have four URLs.
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{21}[AQgw]\.[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]\Z", re.ASCII)


class NoSigningKey(Exception):
    """No usable signing key."""


def parse_keys(text: str) -> list[str]:
    """Split a key list (newlines or commas, newest last) into its keys."""
    return [key.strip() for key in re.split(r"[,\n]", text) if key.strip()]


def load_keys(key_file: Path | None) -> list[str]:
    """Return the signing keys, newest last: ``PAYLINK_SECRET_KEY`` if set, else the key file.

    Raises ``NoSigningKey`` when neither gives a key.
    """
    env = os.environ.get(KEY_ENV)
    if env is not None and env.strip():
        keys = parse_keys(env)
    elif key_file is not None and key_file.exists():
        keys = parse_keys(key_file.read_text(encoding="utf-8"))
    else:
        keys = []
    if not keys:
        where = f"{key_file}" if key_file is not None else "nowhere"
        raise NoSigningKey(f"no signing key: set {KEY_ENV} or create {where}")
    return keys


def new_key() -> str:
    """Return a fresh random signing key (256 bits)."""
    return secrets.token_urlsafe(32)


def new_link_id() -> str:
    """Return a fresh link id: 128 random bits, URL-safe."""
    return secrets.token_urlsafe(LINK_ID_BYTES)


class LinkSigner:
    """Signs link ids with the newest key and verifies tokens against every key, newest first.

    Exactly itsdangerous' ``Signer`` with ``key_derivation="hmac"`` and SHA-256:
    each key is derived once, ``HMAC-SHA256(key, LINK_SALT)``, and a signature
    is ``HMAC-SHA256(derived, link_id)`` in unpadded URL-safe base64. The
    pattern check in front turns away what cannot be a token before any HMAC
    runs, and admits only the canonical base64 spelling, so comparing the
    signature's text (in constant time) is comparing its bytes.
    """

    def __init__(self, keys: Sequence[str]):
        if not keys:
            raise NoSigningKey("no signing key")
        salt = LINK_SALT.encode("utf-8")
        # One HMAC already keyed with each derived key, newest first; each use works on a copy.
        self._keyed = [
            hmac.new(hmac.new(key.encode("utf-8"), salt, hashlib.sha256).digest(), digestmod=hashlib.sha256)
            for key in reversed(keys)
        ]

    @staticmethod
    def _signature(keyed: "hmac.HMAC", link_id: bytes) -> bytes:
        mac = keyed.copy()
        mac.update(link_id)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=")

    def sign(self, link_id: str) -> str:
        """Return the token for a link id, signed with the newest key."""
        return f"{link_id}.{self._signature(self._keyed[0], link_id.encode('utf-8')).decode('ascii')}"

    def verify(self, token: str) -> str | None:
        """Return the link id a token was signed for, or None if it is not ours."""
        if not TOKEN_RE.match(token):
            return None
        link_id, _, signature = token.partition(".")
        given, value = signature.encode("ascii"), link_id.encode("ascii")
        for keyed in self._keyed:
            if hmac.compare_digest(self._signature(keyed, value), given):
                return link_id
        return None
