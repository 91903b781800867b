"""The fast paths of issue 13 behave exactly as the slow ones: the settings cache, the import's page
bookkeeping, the edge's prebuilt headers. Behaviour only; the bench measures the speed."""

import json
import os
import stat
from pathlib import Path

import pytest
from paylink import money
from paylink.settings import load_settings, load_settings_cached

CACHE = ".paylink-settings.cache"


def one_error_line(result) -> str:
    assert result.exit_code != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_a_valid_settings_file_is_cached_privately(site: Path, paylink):
    paylink.ok("customer", "add", "Ann")
    cache = site / CACHE
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    held = json.loads(cache.read_text(encoding="utf-8"))
    assert held["settings"]["name"] == "Test Plumbing"
    assert held["money"]["digits"] == 2
    assert not (site / "build" / CACHE).exists()


def test_an_unchanged_settings_file_is_read_from_the_cache(site: Path, paylink):
    paylink.ok("customer", "add", "Ann")
    cache = site / CACHE
    held = json.loads(cache.read_text(encoding="utf-8"))
    assert held["money"]["affixes"][0] == ["$", ""]
    held["money"]["affixes"][0] = ["US$", ""]  # what only the cache says
    cache.write_text(json.dumps(held), encoding="utf-8")
    assert "US$5.00" in paylink.ok("charge", "1", "5", "Work").stdout


def test_any_change_to_the_settings_file_validates_it_again(site: Path, paylink):
    paylink.ok("customer", "add", "Ann")
    settings = site / "paylink.toml"
    info = settings.stat()
    text = settings.read_text(encoding="utf-8")
    # Same size, same mtime: only the bytes differ.
    settings.write_text(text.replace('currency = "USD"', 'currency = "XXQ"'), encoding="utf-8")
    os.utime(settings, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert settings.stat().st_size == info.st_size
    assert "unknown currency" in one_error_line(paylink("charge", "1", "5", "Work"))
    # An invalid file is never cached: it is an error on every command, not only the first.
    assert "unknown currency" in one_error_line(paylink("customer", "list"))
    assert "unknown currency" in one_error_line(paylink("charge", "1", "5", "Work"))
    settings.write_text(text, encoding="utf-8")
    assert "$5.00" in paylink.ok("charge", "1", "5", "Work").stdout


def test_a_locale_change_is_seen_at_once(site: Path, paylink):
    paylink.ok("customer", "add", "Ann")
    assert "$5.00" in paylink.ok("charge", "1", "5", "Work").stdout
    settings = site / "paylink.toml"
    settings.write_text(settings.read_text(encoding="utf-8").replace("en_US", "de_DE"), encoding="utf-8")
    assert "5,00\xa0$" in paylink.ok("charge", "1", "5", "Work").stdout
    assert json.loads((site / CACHE).read_text(encoding="utf-8"))["settings"]["locale"] == "de_DE"


@pytest.mark.parametrize(
    "damage",
    ["garbage", "empty", "wrong-types", "unknown-setting", "loosened", "folder"],
)
def test_a_damaged_cache_is_ignored_and_replaced(site: Path, paylink, damage):
    paylink.ok("customer", "add", "Ann")
    cache = site / CACHE
    held = json.loads(cache.read_text(encoding="utf-8"))
    if damage == "garbage":
        cache.write_bytes(b"\xff\x00{not json")
    elif damage == "empty":
        cache.write_bytes(b"")
    elif damage == "wrong-types":
        held["settings"]["tips"] = "lots"
        held["money"]["affixes"] = 5
        cache.write_text(json.dumps(held), encoding="utf-8")
    elif damage == "unknown-setting":
        held["settings"]["colour"] = "red"
        cache.write_text(json.dumps(held), encoding="utf-8")
    elif damage == "loosened":
        held["money"]["affixes"][0] = ["US$", ""]
        cache.write_text(json.dumps(held), encoding="utf-8")
        cache.chmod(0o644)  # anyone's edit is not trusted
    else:
        cache.unlink()
        cache.mkdir()
    result = paylink.ok("charge", "1", "5", "Work")
    assert "to Ann" in result.stdout and "$5.00" in result.stdout and "US$" not in result.stdout
    if damage != "folder":
        again = json.loads(cache.read_text(encoding="utf-8"))
        assert again["settings"]["name"] == "Test Plumbing" and again["settings"]["tips"] == [18, 20, 25]
        assert again["money"]["affixes"][0] == ["$", ""]
        assert stat.S_IMODE(cache.stat().st_mode) == 0o600


def test_cached_settings_equal_validated_ones(site: Path):
    path = site / "paylink.toml"
    path.write_text(
        'name = "Café Ünïcode"\ncurrency = "kwd"\nlocale = "ar-EG"\ntimezone = "Asia/Kuwait"\n'
        'base_url = "https://pay.example.com/"\ntips = [10, 15]\n',
        encoding="utf-8",
    )
    fresh = load_settings(path)
    first = load_settings_cached(path, site / CACHE)
    second = load_settings_cached(path, site / CACHE)
    assert fresh == first == second
    assert second.currency == "KWD" and second.base_url == "https://pay.example.com" and second.tips == (10, 15)


@pytest.mark.parametrize(
    ("currency", "locale"), [("USD", "en_US"), ("EUR", "de_DE"), ("KWD", "ar_EG"), ("JPY", "ja_JP")]
)
def test_money_from_cached_facts_equals_babel(currency, locale):
    facts = json.loads(json.dumps(money.formatting_facts(currency, locale)))
    money.prime(currency, locale, facts)
    for minor in (0, 1, 5, 99, 123_456, 10**11 + 3, -1, -123_456):
        assert money.format_money(minor, currency, locale) == money.babel_money(minor, currency, locale)
