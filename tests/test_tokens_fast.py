"""LinkSigner derives its keys once and signs by itself: its tokens must stay itsdangerous' own, byte for byte."""

import base64
import hashlib
import random
import string

import pytest
from itsdangerous import BadSignature, Signer
from paylink.tokens import LINK_SALT, TOKEN_RE, LinkSigner, new_key, new_link_id

BASE64URL = string.ascii_letters + string.digits + "-_"
KEY_LISTS = [
    ["only-one-key"],
    [new_key()],
    [new_key(), new_key()],
    [new_key(), new_key(), new_key(), new_key()],
    ["clé-ünïcode-🔑", new_key()],  # keys are UTF-8 encoded, as itsdangerous' want_bytes does
]


def reference(keys: list[str]) -> Signer:
    """itsdangerous' signer with the settings paylink's tokens have always used."""
    return Signer(list(keys), salt=LINK_SALT, key_derivation="hmac", digest_method=hashlib.sha256)


def random_nonces(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    nonces = [new_link_id() for _ in range(count // 2)]
    # ... and ids from a seeded generator, so a failure can be replayed
    nonces += [base64.urlsafe_b64encode(rng.randbytes(16)).rstrip(b"=").decode() for _ in range(count // 2)]
    return nonces


@pytest.mark.parametrize("keys", KEY_LISTS, ids=lambda keys: f"{len(keys)}-keys")
def test_tokens_are_itsdangerous_tokens_byte_for_byte(keys):
    ours, theirs = LinkSigner(keys), reference(keys)
    for nonce in random_nonces(1000, seed=len(keys)):
        token = ours.sign(nonce)
        assert token == theirs.sign(nonce).decode("ascii")
        assert TOKEN_RE.match(token)
        assert ours.verify(token) == nonce
        assert theirs.unsign(token).decode("ascii") == nonce


def test_every_key_verifies_newest_first_and_signs_with_the_newest():
    keys = [new_key(), new_key(), new_key()]
    signer = LinkSigner(keys)
    for nonce in random_nonces(50, seed=9):
        for age, key in enumerate(keys):
            old_token = reference([key]).sign(nonce).decode("ascii")
            assert signer.verify(old_token) == nonce, age
        assert signer.sign(nonce) == reference([keys[-1]]).sign(nonce).decode("ascii")
        assert signer.sign(nonce) != reference([keys[0]]).sign(nonce).decode("ascii")


def test_a_token_of_another_key_or_salt_fails():
    signer = LinkSigner([new_key(), new_key()])
    nonce = new_link_id()
    assert signer.verify(LinkSigner([new_key()]).sign(nonce)) is None
    other_salt = Signer(
        signer_keys := [new_key()], salt="paylink.other", key_derivation="hmac", digest_method=hashlib.sha256
    )
    assert LinkSigner(signer_keys).verify(other_salt.sign(nonce).decode("ascii")) is None
    concat = Signer(signer_keys, salt=LINK_SALT, key_derivation="concat", digest_method=hashlib.sha256)
    assert LinkSigner(signer_keys).verify(concat.sign(nonce).decode("ascii")) is None


@pytest.mark.parametrize("keys", KEY_LISTS[2:4], ids=lambda keys: f"{len(keys)}-keys")
def test_every_one_character_mutation_fails(keys):
    signer, theirs = LinkSigner(keys), reference(keys)
    alphabet = BASE64URL + ".=+/ %\x00é"
    for nonce in random_nonces(4, seed=3):
        token = signer.sign(nonce)
        for i, original in enumerate(token):
            for char in alphabet:
                if char == original:
                    continue
                mutated = token[:i] + char + token[i + 1 :]
                assert signer.verify(mutated) is None, (i, char)
                # where itsdangerous itself accepts the mutation, it is only another spelling of the
                # same bytes (padding bits, "+/" for "-_") that the pattern refuses: a link has one URL
                try:
                    theirs.unsign(mutated)
                except BadSignature:
                    continue
                assert i == len(token) - 1 or (original, char) in (("-", "+"), ("_", "/")), (i, char)


def test_truncated_extended_and_reshaped_tokens_fail():
    signer = LinkSigner([new_key()])
    token = signer.sign(new_link_id())
    link_id, _, signature = token.partition(".")
    candidates = [
        *(token[:n] for n in range(len(token))),
        token + "A",
        token + "\n",
        " " + token,
        token + "=",
        f"{signature}.{link_id}",
        f"{link_id}..{signature}",
        f"{link_id}{signature}",
        token.upper(),
        token.swapcase(),
        f"{link_id}.{signer.sign(new_link_id()).partition('.')[2]}",  # another id's signature
    ]
    for candidate in candidates:
        assert signer.verify(candidate) is None, candidate


def test_sign_of_any_text_matches_itsdangerous():
    keys = [new_key()]
    ours, theirs = LinkSigner(keys), reference(keys)
    for value in ["", "a", "x" * 100, "ünïcode", "with.dot"]:
        assert ours.sign(value) == theirs.sign(value).decode("utf-8")


def test_verify_agrees_with_itsdangerous_on_every_token_of_the_right_shape():
    """verify does itsdangerous' check itself: on tokens TOKEN_RE admits, both say the same."""
    keys = [new_key(), new_key(), new_key()]
    ours, theirs = LinkSigner(keys[1:]), reference(keys[1:])
    rng = random.Random(13)
    for nonce in random_nonces(200, seed=13):
        signed = [reference([key]).sign(nonce).decode("ascii") for key in keys]  # the first key: not ours
        random_signature = base64.urlsafe_b64encode(rng.randbytes(32)).rstrip(b"=").decode()
        for token in [*signed, f"{nonce}.{random_signature}"]:
            assert TOKEN_RE.match(token)
            try:
                expected = theirs.unsign(token).decode("ascii")
            except BadSignature:
                expected = None
            assert ours.verify(token) == expected
        assert ours.verify(signed[0]) is None and ours.verify(signed[1]) == ours.verify(signed[2]) == nonce
