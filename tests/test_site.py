"""A site (CONTRACT §1): `paylink init`, paylink.toml, the key file, and how every command finds its site."""

import json
import re
import stat
import tomllib
from pathlib import Path

import pytest
from conftest import Paylink, invoke, make_site, one_error_line
from paylink.tokens import LinkSigner, parse_keys
from sitepages import customer_names, live_nonce, page_names, token_of

# Anything shaped like a link token: a 22-character link id, a dot, a 43-character signature.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}")


@pytest.fixture(autouse=True)
def no_site_environment(monkeypatch):
    """The tests choose the site and key themselves; the caller's environment must not."""
    monkeypatch.delenv("PAYLINK_SITE", raising=False)
    monkeypatch.delenv("PAYLINK_SECRET_KEY", raising=False)


def read_settings(root: Path) -> dict:
    return tomllib.loads((root / "paylink.toml").read_text(encoding="utf-8"))


def tree(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file under root with its bytes, mode and mtime: to prove a command touched nothing."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            st = path.stat()
            out[str(path.relative_to(root))] = (path.read_bytes(), st.st_mode, st.st_mtime_ns)
    return out


# --- init ------------------------------------------------------------------------


def test_init_writes_every_option_to_paylink_toml(tmp_path):
    root = tmp_path / "acme"
    result = invoke(
        "init",
        str(root),
        "--name",
        "Acme Plumbing",
        "--currency",
        "eur",
        "--locale",
        "de_DE",
        "--timezone",
        "Europe/Berlin",
        "--base-url",
        "https://pay.example.com/",
        "--phone",
        "+49 30 123456",
        "--email",
        "billing@example.com",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    expected = {
        "name": "Acme Plumbing",
        "currency": "EUR",  # normalised to the ISO code's upper case
        "locale": "de_DE",
        "timezone": "Europe/Berlin",
        "base_url": "https://pay.example.com",  # no trailing slash, so links never get "//p/"
        "phone": "+49 30 123456",
        "email": "billing@example.com",
    }
    assert read_settings(root) == expected
    assert json.loads(result.stdout) == {"site": str(root), **expected}


def test_init_defaults(tmp_path):
    root = make_site(tmp_path / "site")
    assert read_settings(root) == {
        "name": "Test Plumbing",
        "currency": "USD",
        "locale": "en_US",
        "timezone": "UTC",
        "base_url": "http://127.0.0.1:8000",
    }


def test_init_without_a_folder_uses_the_current_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("init", "--name", "Here")
    assert result.exit_code == 0, result.stderr
    assert read_settings(tmp_path)["name"] == "Here"
    assert (tmp_path / "paylink.db").is_file() and (tmp_path / "paylink.key").is_file()


@pytest.mark.parametrize("present", ["paylink.toml", "paylink.db", "paylink.key"])
def test_init_refuses_an_existing_site_and_touches_nothing(tmp_path, present):
    root = make_site(tmp_path / "site")
    Paylink(root).ok("customer", "add", "Jane")
    for name in {"paylink.toml", "paylink.db", "paylink.key"} - {present}:
        (root / name).unlink()  # any one part of a site is enough to refuse
    before = tree(root)

    line = one_error_line(invoke("init", str(root), "--name", "Other Business", "--currency", "JPY"))

    assert line.startswith(f"Error: {root} already holds a paylink site ({present})")
    assert tree(root) == before


BAD_SETTINGS = [
    (["--currency", "XYZ"], "Error: Unknown currency 'XYZ'"),
    (["--currency", "US"], "Error: Unknown currency 'US'"),
    (["--locale", "xx_QQ"], "Error: Unknown locale 'xx_QQ'"),
    (["--timezone", "Mars/Olympus_Mons"], "Error: Unknown time zone 'Mars/Olympus_Mons'"),
    (["--timezone", "../../etc/passwd"], "Error: Unknown time zone '../../etc/passwd'"),
    (["--base-url", "ftp://example.com"], "Error: Base URL 'ftp://example.com' is not an http(s) address"),
    (["--base-url", "example.com"], "Error: Base URL 'example.com' is not an http(s) address"),
    (["--email", "not-an-email"], "Error: Email 'not-an-email' is not an email address"),
    (["--name", "   "], "Error: The business name is empty"),
]


@pytest.mark.parametrize("folder_exists", [False, True], ids=["new-folder", "empty-folder"])
@pytest.mark.parametrize(("options", "message"), BAD_SETTINGS, ids=[" ".join(o) for o, _ in BAD_SETTINGS])
def test_init_with_a_bad_setting_creates_nothing(tmp_path, options, message, folder_exists):
    root = tmp_path / "site"
    if folder_exists:
        root.mkdir()
    args = ["init", str(root), "--name", "Test Plumbing", *options]

    line = one_error_line(invoke(*args))

    assert line.startswith(message)
    if folder_exists:
        assert list(root.iterdir()) == []
    else:
        assert not root.exists()


def test_key_file_is_private_and_holds_one_strong_key(site):
    key_path = site / "paylink.key"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    keys = parse_keys(key_path.read_text(encoding="utf-8"))
    assert len(keys) == 1
    assert len(keys[0]) >= 32
    signer = LinkSigner(keys)
    token = signer.sign("A" * 22)
    assert signer.verify(token) == "A" * 22


def test_every_site_gets_its_own_key(tmp_path):
    first = make_site(tmp_path / "one")
    second = make_site(tmp_path / "two")
    assert (first / "paylink.key").read_text() != (second / "paylink.key").read_text()


def test_build_folder_exists_without_key_or_token(site):
    build = site / "build"
    assert build.is_dir()
    key = (site / "paylink.key").read_text(encoding="utf-8").strip()
    files = [p for p in build.rglob("*") if p.is_file()]
    assert files, "init should already write the static files (404, 410, robots.txt)"
    for path in files:
        data = path.read_bytes()
        assert key.encode() not in data, path
        assert not TOKEN_SHAPE.search(data.decode("utf-8", "replace")), path
    assert not (build / "paylink.key").exists()


# --- paylink.toml edited later ------------------------------------------------------

BROKEN_SETTINGS = {
    "unknown-currency": ('currency = "USD"', 'currency = "XYZ"', "unknown currency 'XYZ'"),
    "unknown-locale": ('locale = "en_US"', 'locale = "qq_ZZ"', "unknown locale 'qq_ZZ'"),
    "unknown-timezone": ('timezone = "UTC"', 'timezone = "Nowhere/Town"', "unknown time zone 'Nowhere/Town'"),
    "bad-base-url": (
        'base_url = "http://127.0.0.1:8000"',
        'base_url = "javascript:alert(1)"',
        "is not an http(s) address",
    ),
    "bad-toml": ('name = "Test Plumbing"', 'name = ["Test Plumbing"', "is not valid TOML"),
    "unknown-setting": ('name = "Test Plumbing"', 'name = "Test Plumbing"\ncolour = "red"', "unknown setting 'colour'"),
    "no-name": ('name = "Test Plumbing"', "", "name is missing"),
}

COMMANDS = [
    ["customer", "list"],
    ["customer", "add", "Jane"],
    ["charge", "1", "10", "Work"],
    ["link", "generate", "--all"],
    ["build"],
]


@pytest.mark.parametrize("broken", list(BROKEN_SETTINGS))
def test_invalid_settings_are_an_error_for_every_command(site, paylink, broken):
    paylink.ok("customer", "add", "Ann")
    settings = site / "paylink.toml"
    good, bad, message = BROKEN_SETTINGS[broken]
    text = settings.read_text(encoding="utf-8")
    assert good in text
    settings.write_text(text.replace(good, bad), encoding="utf-8")
    before = tree(site)

    for command in COMMANDS:
        line = one_error_line(paylink(*command))
        assert line.startswith(f"Error: {settings}"), command
        assert message in line, command

    assert tree(site) == before
    assert customer_names(site) == ["Ann"]


def test_a_missing_ledger_is_an_error_not_an_empty_one(site, paylink):
    paylink.ok("customer", "add", "Jane")
    paylink.ok("link", "generate", "1")
    pages = page_names(site)
    assert len(pages) == 1
    (site / "paylink.db").rename(site / "paylink.db.moved")  # a restore gone wrong, a typo in --site ...

    for command in (["customer", "list"], ["build"]):
        line = one_error_line(paylink(*command))
        assert line.startswith(f"Error: {site / 'paylink.db'}"), line
    assert not (site / "paylink.db").exists()
    assert page_names(site) == pages


# --- finding the site -----------------------------------------------------------------


def test_site_option(tmp_path, monkeypatch):
    site = make_site(tmp_path / "site")
    monkeypatch.chdir(tmp_path)
    assert invoke("--site", str(site), "customer", "add", "Jane").exit_code == 0
    assert customer_names(site) == ["Jane"]


def test_site_from_environment(tmp_path, monkeypatch):
    site = make_site(tmp_path / "site")
    monkeypatch.chdir(tmp_path)
    result = invoke("customer", "add", "Jane", env={"PAYLINK_SITE": str(site)})
    assert result.exit_code == 0, result.stderr
    assert customer_names(site) == ["Jane"]


def test_site_from_current_folder(tmp_path, monkeypatch):
    site = make_site(tmp_path / "site")
    monkeypatch.chdir(site)
    result = invoke("customer", "add", "Jane", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "Jane"
    assert customer_names(site) == ["Jane"]


def test_site_option_beats_environment_beats_current_folder(tmp_path, monkeypatch):
    by_option = make_site(tmp_path / "by-option")
    by_env = make_site(tmp_path / "by-env")
    here = make_site(tmp_path / "here")
    monkeypatch.chdir(here)

    assert invoke("--site", str(by_option), "customer", "add", "A", env={"PAYLINK_SITE": str(by_env)}).exit_code == 0
    assert invoke("customer", "add", "B", env={"PAYLINK_SITE": str(by_env)}).exit_code == 0

    assert customer_names(by_option) == ["A"]
    assert customer_names(by_env) == ["B"]
    assert customer_names(here) == []


def test_outside_a_site_is_a_clear_error(tmp_path, monkeypatch):
    elsewhere = tmp_path / "not-a-site"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    line = one_error_line(invoke("customer", "list"))

    assert line == (
        f"Error: No paylink site here (looked in {Path.cwd()} and every folder above) — cd into your site's"
        " folder, pass --site DIR, or set PAYLINK_SITE; to start a new business, run paylink init DIR"
    )
    assert "init ." not in line  # never an invitation to start a second site right here
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_named_folder_that_is_not_a_site_is_a_clear_error(tmp_path, how):
    missing = tmp_path / "nowhere"
    args = ["--site", str(missing)] if how == "option" else []
    env = {"PAYLINK_SITE": str(missing)} if how == "environment" else None

    line = one_error_line(invoke(*args, "customer", "add", "Jane", env=env))

    assert line.startswith(f"Error: No paylink site in {missing}")
    assert not missing.exists()


# --- PAYLINK_SECRET_KEY ------------------------------------------------------------------


def test_secret_key_environment_overrides_the_key_file(site, paylink):
    paylink.ok("customer", "add", "Jane")
    file_keys = parse_keys((site / "paylink.key").read_text())
    with_file = paylink.json("link", "generate", "1")["url"]
    nonce = live_nonce(site, 1)

    env_key = "edge-deployment-key-0123456789abcdefghijklmnop"
    with_env = paylink.json("link", "show", "1", env={"PAYLINK_SECRET_KEY": env_key})["url"]

    assert with_env != with_file
    assert with_env.startswith("http://127.0.0.1:8000/p/")
    assert LinkSigner([env_key]).verify(token_of(with_env)) == nonce
    assert LinkSigner(file_keys).verify(token_of(with_env)) is None
    assert LinkSigner(file_keys).verify(token_of(with_file)) == nonce
    # Without the variable, the key file is used again.
    assert paylink.json("link", "show", "1")["url"] == with_file


@pytest.mark.parametrize("separator", [",", "\n"])
def test_secret_key_environment_is_a_list_newest_last(site, paylink, separator):
    paylink.ok("customer", "add", "Jane")
    paylink.ok("link", "generate", "1")
    old, new = "old-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "new-key-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

    url = paylink.json("link", "show", "1", env={"PAYLINK_SECRET_KEY": f"{old}{separator}{new}"})["url"]

    token = token_of(url)
    assert LinkSigner([new]).verify(token) == live_nonce(site, 1)  # signed with the newest
    assert LinkSigner([old]).verify(token) is None


def test_secret_key_environment_works_without_a_key_file(site, paylink):
    paylink.ok("customer", "add", "Jane")
    (site / "paylink.key").unlink()
    env = {"PAYLINK_SECRET_KEY": "only-in-the-environment-0123456789abcdef"}

    url = paylink.json("link", "generate", "1", env=env)["url"]

    assert LinkSigner(["only-in-the-environment-0123456789abcdef"]).verify(token_of(url)) == live_nonce(site, 1)
    line = one_error_line(paylink("link", "show", "1"))
    assert "no signing key" in line.lower()
