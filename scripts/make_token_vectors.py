#!/usr/bin/env python3
"""Write tests/vectors/tokens.json: pinned keys, link ids, tokens and the status every edge must answer.

Run ONCE; the file is committed and never regenerated. Every edge (the Python
one, the JavaScript Worker) reads it in its tests, and the Python tests also
check that today's signing code still signs each link id to the pinned token:
a changed salt, digest or key derivation would turn every link already sent
to a customer into a 404, and a suite that signs its own test tokens with the
changed code would not notice.

    .venv/bin/python scripts/make_token_vectors.py            # refuses to overwrite
    .venv/bin/python scripts/make_token_vectors.py --force    # only if the format itself changes

Each case: ``name``, ``token``, ``nonce`` (the link id, or null when the token
has none), ``signing_key`` (the key that signed ``token``, or null),
``snapshot`` (the file in ``build/p`` an edge test must create, or null),
``status`` (what the edge answers) and ``path`` (the request path).
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

from itsdangerous import Signer
from paylink import layout
from paylink.tokens import LINK_SALT, LinkSigner, new_key, new_link_id

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "tokens.json"


def case(name: str, token: str, status: int, *, nonce=None, signing_key=None, live=False, note="") -> dict:
    return {
        "name": name,
        "note": note,
        "token": token,
        "nonce": nonce,
        "signing_key": signing_key,
        "snapshot": layout.snapshot_name(nonce) if live else None,
        "status": status,
        "path": f"/p/{token}",
    }


def signing_mistakes(key: str, nonce: str) -> list[dict]:
    """The live link id signed with our key by an edge that got itsdangerous' settings wrong: each must be 404.

    An edge that forgot the salt (itsdangerous' default, ``itsdangerous.Signer``),
    skipped key derivation (the key used as it is) or used itsdangerous' default
    derivation (``django-concat``) accepts these tokens; paylink's edges must not.
    """

    def signed(**options) -> str:
        return Signer(key, digest_method=hashlib.sha256, **options).sign(nonce).decode("ascii")

    return [
        case(
            "default-salt",
            signed(key_derivation="hmac"),
            404,
            nonce=nonce,
            note="our key, HMAC derivation, but itsdangerous' default salt 'itsdangerous.Signer'",
        ),
        case(
            "no-key-derivation",
            signed(salt=LINK_SALT, key_derivation="none"),
            404,
            nonce=nonce,
            note="our key used as the HMAC key itself, without deriving it with the salt",
        ),
        case(
            "concat-key-derivation",
            signed(salt=LINK_SALT, key_derivation="django-concat"),
            404,
            nonce=nonce,
            note="our key and salt, but itsdangerous' default derivation (django-concat) instead of hmac",
        ),
    ]


def make() -> dict:
    old_key, newest_key, foreign_key = new_key(), new_key(), new_key()
    keys = [old_key, newest_key]  # newest last
    live, old, rotated, revoked = (new_link_id() for _ in range(4))
    sign = LinkSigner(keys).sign
    live_token = sign(live)
    live_id, _, live_sig = live_token.partition(".")
    other_sig = sign(rotated).partition(".")[2]
    # The signature's last character carries 2 spare bits; setting one keeps the decoded bytes.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    spare_bits = live_sig[:-1] + alphabet[alphabet.index(live_sig[-1]) + 1]
    other_salt = (
        Signer(newest_key, salt="paylink.other", key_derivation="hmac", digest_method=hashlib.sha256)
        .sign(live)
        .decode("ascii")
    )
    cases = [
        case("live", live_token, 200, nonce=live, signing_key=newest_key, live=True, note="signed with the newest key"),
        case(
            "live-previous-key",
            LinkSigner([old_key]).sign(old),
            200,
            nonce=old,
            signing_key=old_key,
            live=True,
            note="signed before the key was rotated; the old key is still in the list",
        ),
        case(
            "rotated",
            sign(rotated),
            410,
            nonce=rotated,
            signing_key=newest_key,
            note="valid signature, snapshot removed by link rotate",
        ),
        case(
            "revoked",
            sign(revoked),
            410,
            nonce=revoked,
            signing_key=newest_key,
            note="valid signature, snapshot removed by link revoke",
        ),
        case(
            "forged",
            f"{live_id}.{other_sig}",
            404,
            nonce=live,
            note="the live link id with another link's signature (its snapshot exists)",
        ),
        case(
            "foreign-key",
            LinkSigner([foreign_key]).sign(live),
            404,
            nonce=live,
            signing_key=foreign_key,
            note="the live link id signed with another site's key",
        ),
        case("other-salt", other_salt, 404, nonce=live, note="the live link id signed with our key but another salt"),
        *signing_mistakes(newest_key, live),
        case("malformed-truncated", live_token[:-1], 404, note="last character cut off"),
        case("malformed-padded", live_token + "=", 404, note="base64 padding appended"),
        case("malformed-extended", live_token + "A", 404, note="one character too many"),
        case("malformed-bad-chars", live_id[:5] + "+/" + live_id[7:] + "." + live_sig, 404, note="standard base64"),
        case("malformed-bad-char-in-signature", live_id + "." + live_sig[:10] + "!" + live_sig[11:], 404),
        case("malformed-no-dot", live_id + live_sig, 404, note="separator removed"),
        case("malformed-id-only", live_id, 404),
        case(
            "malformed-spare-bits",
            f"{live_id}.{spare_bits}",
            404,
            note="same signature bytes, non-zero base64 spare bits: one link has one URL",
        ),
        case("malformed-swapcase", live_token.swapcase(), 404),
        case("malformed-empty", "", 404),
    ]
    return {
        "about": "Pinned link tokens: every edge must answer each case's path with its status. "
        "Generated once by scripts/make_token_vectors.py; never regenerate (that would hide a signing change).",
        "salt": LINK_SALT,
        "digest": "sha256",
        "key_derivation": "hmac",
        "keys": keys,
        "cases": cases,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="overwrite the pinned file (breaks the pin)")
    args = parser.parse_args()
    if OUT.exists() and not args.force:
        print(f"Error: {OUT} exists and is pinned — pass --force only if the format itself changes", file=sys.stderr)
        return 1
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(make(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
