"""Links (CONTRACT §2, §3): generate, show, rotate, revoke; tokens; what build/ may hold."""

import base64
import json
from contextlib import closing
from pathlib import Path

import pytest
from conftest import Paylink, make_site
from paylink import layout
from paylink.tokens import TOKEN_RE, LinkSigner, parse_keys
from sitepages import ledger, live_nonce, page_names, token_of

BASE_URL = "http://127.0.0.1:8000"


@pytest.fixture(autouse=True)
def key_from_file(monkeypatch):
    """These tests sign with the site's key file, whatever the caller's environment says."""
    monkeypatch.delenv("PAYLINK_SECRET_KEY", raising=False)


def signer(site: Path) -> LinkSigner:
    return LinkSigner(parse_keys((site / "paylink.key").read_text(encoding="utf-8")))


def links(site: Path) -> list[tuple]:
    """Every link ever issued: (customer_id, nonce, snapshot, retired_because)."""
    with closing(ledger(site)) as conn, conn:
        return conn.execute("SELECT customer_id, nonce, snapshot, retired_because FROM links ORDER BY id").fetchall()


def snapshot_file(site: Path, nonce: str) -> Path:
    return site / "build" / layout.SNAPSHOT_DIR / layout.snapshot_name(nonce)


@pytest.fixture
def jane(paylink) -> int:
    return paylink.json("customer", "add", "Jane", "--ref", "JANE")["id"]


# --- generate and show ----------------------------------------------------------------------


def test_generate_gives_a_signed_link_and_writes_the_page(site, paylink, jane):
    doc = paylink.json("link", "generate", "JANE")

    assert set(doc) == {"customer_id", "url"}
    assert doc["customer_id"] == jane
    token = token_of(doc["url"], BASE_URL)
    assert TOKEN_RE.match(token)
    nonce = live_nonce(site, jane)
    assert signer(site).verify(token) == nonce
    assert snapshot_file(site, nonce).is_file()


def test_generate_is_idempotent(site, paylink, jane):
    first = paylink.json("link", "generate", "JANE")
    again = paylink.json("link", "generate", "1")
    assert again == first
    assert paylink.json("link", "show", "JANE") == first
    assert paylink.ok("link", "show", "1").stdout == first["url"] + "\n"
    assert len(links(site)) == 1


def test_link_url_follows_base_url(tmp_path):
    paylink = Paylink(make_site(tmp_path / "site", "--base-url", "https://pay.example.com/billing/"))
    paylink.ok("customer", "add", "Jane")
    url = paylink.json("link", "generate", "1")["url"]
    assert url.startswith("https://pay.example.com/billing/p/")
    assert TOKEN_RE.match(url.rsplit("/p/", 1)[1])


def test_token_carries_only_128_random_bits(site, paylink):
    with closing(ledger(site)) as conn, conn:  # a customer id that would stand out in a token
        conn.execute("INSERT INTO customers (id, name) VALUES (987654, 'Big Id')")
    for name in ("A", "B", "C", "D", "E"):
        paylink.ok("customer", "add", name)
    urls = paylink.json("link", "generate", "--all")
    keyed = signer(site)

    link_ids = []
    for doc in urls:
        token = token_of(doc["url"], BASE_URL)
        link_id, _, signature = token.partition(".")
        assert len(link_id) == 22
        raw = base64.urlsafe_b64decode(link_id + "==")
        assert len(raw) == 16  # 128 bits
        # The signed payload is the link id and nothing else ...
        assert keyed.verify(token) == link_id
        assert keyed.sign(link_id) == token
        # ... and it is the random nonce stored for the link, not derived from the customer.
        assert live_nonce(site, doc["customer_id"]) == link_id
        assert str(doc["customer_id"]) not in token
        link_ids.append(raw)
    assert urls[0]["customer_id"] == 987654
    assert len(set(link_ids)) == len(link_ids)


def test_the_same_customer_on_two_sites_gets_unrelated_tokens(tmp_path):
    one, two = make_site(tmp_path / "one"), make_site(tmp_path / "two")
    for root in (one, two):
        Paylink(root).ok("customer", "add", "Jane")
    token_one = token_of(Paylink(one).json("link", "generate", "1")["url"], BASE_URL)
    token_two = token_of(Paylink(two).json("link", "generate", "1")["url"], BASE_URL)
    assert token_one.partition(".")[0] != token_two.partition(".")[0]  # not derived from the customer id
    assert signer(one).verify(token_one) is not None
    assert signer(two).verify(token_one) is None  # nor usable on another site


def test_generate_all_covers_every_customer(site, paylink):
    assert paylink.json("link", "generate", "--all") == []
    for name in ("A", "B", "C"):
        paylink.ok("customer", "add", name)
    kept = paylink.json("link", "generate", "2")["url"]

    docs = paylink.json("link", "generate", "--all")

    assert [d["customer_id"] for d in docs] == [1, 2, 3]
    assert docs[1]["url"] == kept  # an existing link is kept
    for doc in docs:
        assert paylink.json("link", "show", str(doc["customer_id"])) == doc
        assert snapshot_file(site, live_nonce(site, doc["customer_id"])).is_file()
    assert paylink.json("link", "generate", "--all") == docs
    assert len(links(site)) == 3


@pytest.mark.parametrize("args", [[], ["1", "--all"]], ids=["neither", "both"])
def test_generate_needs_a_customer_or_all(site, paylink, jane, args):
    result = paylink.fails("link", "generate", *args)
    assert result.exit_code == 2
    assert links(site) == []


def test_show_without_a_link_is_an_error(paylink, jane):
    result = paylink.fails("link", "show", "JANE")
    assert result.stderr == "Error: Customer 1 (Jane) has no link — run `paylink link generate 1`\n"


# --- rotate -------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [None, "n\n", "\n"], ids=["no-input", "no", "default"])
def test_rotate_unconfirmed_changes_nothing(site, paylink, jane, answer):
    url = paylink.json("link", "generate", "JANE")["url"]
    nonce = live_nonce(site, jane)
    before = links(site)

    result = paylink("link", "rotate", "JANE", input=answer)

    assert result.exit_code != 0
    assert (
        result.stderr.strip().splitlines()[-1]
        == "Error: Not confirmed, so nothing was changed — answer y, or pass --yes"
    )
    assert "Give Jane a new link? Their current link will stop working." in result.stderr
    assert result.stdout == ""
    assert links(site) == before
    assert paylink.json("link", "show", "JANE")["url"] == url
    assert snapshot_file(site, nonce).is_file()


@pytest.mark.parametrize("how", [{"input": "y\n"}, {"args": ["--yes"]}], ids=["answered-y", "yes-option"])
def test_rotate_replaces_the_link_and_removes_the_old_page(site, paylink, jane, how):
    paylink.ok("charge", "JANE", "12.50", "Job")
    old_url = paylink.json("link", "generate", "JANE")["url"]
    old_nonce = live_nonce(site, jane)
    assert snapshot_file(site, old_nonce).is_file()

    result = paylink.ok("link", "rotate", "JANE", *how.get("args", []), "--json", input=how.get("input"))

    doc = json.loads(result.stdout)
    assert doc["customer_id"] == jane
    assert doc["url"] != old_url
    new_nonce = live_nonce(site, jane)
    assert new_nonce != old_nonce
    assert signer(site).verify(token_of(doc["url"], BASE_URL)) == new_nonce
    assert not snapshot_file(site, old_nonce).exists()
    assert snapshot_file(site, new_nonce).is_file()
    assert "$12.50" in snapshot_file(site, new_nonce).read_text(encoding="utf-8")
    assert paylink.json("link", "show", "JANE") == doc
    assert [(c, n, why) for c, n, _, why in links(site)] == [(jane, old_nonce, "rotated"), (jane, new_nonce, None)]
    assert page_names(site) == [layout.snapshot_name(new_nonce)]


def test_rotate_without_a_link_is_an_error(site, paylink, jane):
    result = paylink.fails("link", "rotate", "JANE", "--yes")
    assert result.stderr.startswith("Error: Customer 1 (Jane) has no link")
    assert links(site) == []


# --- revoke ---------------------------------------------------------------------------------------


def test_revoke_turns_the_link_off(site, paylink, jane):
    paylink.ok("link", "generate", "JANE")
    nonce = live_nonce(site, jane)

    assert paylink.json("link", "revoke", "JANE", "--yes") == {"customer_id": jane, "url": None}

    assert not snapshot_file(site, nonce).exists()
    assert page_names(site) == []
    assert paylink.fails("link", "show", "JANE").stderr.startswith("Error: Customer 1 (Jane) has no link")
    assert paylink.json("customer", "list")[0]["url"] is None
    assert links(site)[0][3] == "revoked"
    # Posting to a customer without a link writes no page.
    paylink.ok("charge", "JANE", "5", "Job")
    assert page_names(site) == []
    # A later link is a new one.
    again = paylink.json("link", "generate", "JANE")["url"]
    assert signer(site).verify(token_of(again, BASE_URL)) == live_nonce(site, jane) != nonce


def test_revoke_unconfirmed_changes_nothing(site, paylink, jane):
    paylink.ok("link", "generate", "JANE")
    nonce = live_nonce(site, jane)
    result = paylink("link", "revoke", "JANE")
    assert result.exit_code != 0
    assert result.stderr.strip().splitlines()[-1].startswith("Error: Not confirmed, so nothing was changed")
    assert live_nonce(site, jane) == nonce
    assert snapshot_file(site, nonce).is_file()


def test_revoke_without_a_link_is_an_error(paylink, jane):
    result = paylink.fails("link", "revoke", "JANE", "--yes")
    assert result.stderr.startswith("Error: Customer 1 (Jane) has no link")


# --- build/ holds no secret -----------------------------------------------------------------------


def test_build_never_holds_a_token_or_the_key(site, paylink):
    for name in ("Ann", "Bob", "Cy"):
        paylink.ok("customer", "add", name)
    paylink.ok("charge", "1", "12.50", "Job")
    paylink.ok("credit", "2", "3", "Refund")
    issued = [d["url"] for d in paylink.json("link", "generate", "--all")]
    issued.append(paylink.json("link", "rotate", "1", "--yes")["url"])
    paylink.ok("link", "revoke", "2", "--yes")
    issued.append(paylink.json("link", "generate", "2")["url"])
    paylink.ok("charge", "3", "1", "Job")
    paylink.ok("build", "--full")

    secrets = set(parse_keys((site / "paylink.key").read_text(encoding="utf-8")))
    for url in issued:
        token = token_of(url, BASE_URL)
        link_id, _, signature = token.partition(".")
        secrets |= {token, link_id, signature}
    secrets |= {nonce for _, nonce, _, _ in links(site)}
    assert len(issued) == 5

    files = [p for p in (site / "build").rglob("*") if p.is_file()]
    assert len([p for p in files if p.parent.name == "p"]) == 3
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{path} contains a secret"
    assert not any(TOKEN_RE.match(p.name) or p.name in secrets for p in (site / "build").rglob("*"))
