"""The page cache (generator/page_cache.py): a posting command draws its page without Jinja or Babel,
and the page is byte for byte the one a fresh full build writes.

Every command here is the real `paylink` console script in its own process, so
nothing learnt in one command (caches, primed formats) can leak into another
except through the cache file itself.
"""

import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PAYLINK
from paylink.dates import ZONE_YEARS, _LearntDates, date_facts
from paylink.page_cache import PAGE_CACHE
from paylink.render import builtin_templates_dir

PROBE = (
    "import sys\n"
    "from paylink.cli import main\n"
    "sys.argv = ['paylink', *sys.argv[1:]]\n"
    "try:\n"
    "    main()\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'jinja2', 'babel'})\n"
    "print('LOADED=' + ','.join(loaded), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def run(site: Path, *args: str) -> subprocess.CompletedProcess:
    """`paylink --site SITE ARGS` in a process of its own; insists on success."""
    done = subprocess.run([PAYLINK, "--site", str(site), *args], capture_output=True, text=True)
    assert done.returncode == 0, f"paylink {' '.join(args)}: {done.stderr}"
    return done


def run_probed(site: Path, *args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """As ``run``, and say which of Jinja and Babel the command imported."""
    done = subprocess.run([sys.executable, "-c", PROBE, "--site", str(site), *args], capture_output=True, text=True)
    assert done.returncode == 0, f"paylink {' '.join(args)}: {done.stderr}"
    line = [x for x in done.stderr.splitlines() if x.startswith("LOADED=")][-1]
    return done, {m for m in line.removeprefix("LOADED=").split(",") if m}


def pages(site: Path) -> dict[str, bytes]:
    folder = site / "build" / "p"
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


def fresh_full_build(site: Path) -> dict[str, bytes]:
    """The pages a full build writes with no cache at all (Jinja, and the pages it compiles and checks)."""
    (site / PAGE_CACHE).unlink(missing_ok=True)
    run(site, "build", "--full")
    return pages(site)


SITES = {
    "en_US": [],
    "es_US, Chicago": ["--locale", "es_US", "--timezone", "America/Chicago"],
    "de_DE, EUR, Berlin": ["--locale", "de_DE", "--currency", "EUR", "--timezone", "Europe/Berlin"],
    "ja_JP, JPY, Tokyo": ["--locale", "ja_JP", "--currency", "JPY", "--timezone", "Asia/Tokyo"],
}


def make_site(root: Path, *extra: str) -> Path:
    done = subprocess.run(
        [PAYLINK, "init", str(root), "--name", "Test <Plumbing> & Sons", *extra], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return root


def add_customers(site: Path) -> list[str]:
    """Customers in both languages and every state, one with more entries than a page shows."""
    ids = []
    for name, language in [("Ann <b>O'Neil</b>", "en"), ("José Núñez", "es"), ("Zoë & Co", None), ("Mo", "es")]:
        args = ["customer", "add", name, "--json", *(["--language", language] if language else [])]
        customer = str(json.loads(run(site, *args).stdout)["id"])
        run(site, "link", "generate", customer)
        ids.append(customer)
    rows = ["customer,kind,amount,description,date", f"{ids[0]},charge,120,Drain <repair> & parts,2026-03-09"]
    rows.append(f"{ids[1]},credit,5,Refund,2026-11-01")
    rows += [f"{ids[3]},charge,{n + 1},Visit {n},2026-0{1 + n % 9}-{10 + n % 18}" for n in range(23)]
    csv_file = site.parent / "entries.csv"
    csv_file.write_text("\n".join(rows) + "\n", encoding="utf-8")
    run(site, "import", "entries", str(csv_file))
    return ids


@pytest.mark.parametrize("extra", list(SITES.values()), ids=list(SITES))
def test_pages_drawn_from_the_cache_equal_a_fresh_full_build(tmp_path: Path, extra: list[str]):
    site = make_site(tmp_path / "site", *extra)
    ids = add_customers(site)
    run(site, "build", "--full")  # draws and checks its shapes: the cache learns them
    assert (site / PAGE_CACHE).is_file()
    assert os.stat(site / PAGE_CACHE).st_mode & 0o777 == 0o600
    rng = random.Random(7)
    drawn_without_jinja = 0
    for step in range(10):
        customer = rng.choice(ids)
        verb = rng.choice(["charge", "charge", "credit"])
        done, loaded = run_probed(site, verb, customer, f"{rng.randint(1, 99999)}", f"Step {step} <&>", "--json")
        drawn_without_jinja += not loaded
    entry = json.loads(run(site, "charge", ids[2], "7", "To be voided", "--json").stdout)["entry_id"]
    run(site, "void", str(entry), "--reason", "typo")
    written = pages(site)
    # Each shape a build checked is drawn from the cache: most of these posts import neither.
    assert drawn_without_jinja >= 5
    assert written == fresh_full_build(site)
    run(site, "build", "--full")  # every page drawn from the cache the fresh build wrote
    assert pages(site) == written


def test_a_charge_with_a_current_cache_imports_neither_jinja_nor_babel(tmp_path: Path):
    site = make_site(tmp_path / "site")
    ids = add_customers(site)
    (site / PAGE_CACHE).unlink()
    _, loaded = run_probed(site, "charge", ids[0], "3", "First")  # draws with Jinja, learns this page's shape
    assert "jinja2" in loaded
    _, loaded = run_probed(site, "charge", ids[0], "4", "Second")
    assert loaded == set()
    _, loaded = run_probed(site, "build")  # a no-op build takes the fingerprint from the cache
    assert loaded == set()
    after = pages(site)
    assert after == fresh_full_build(site)


def page_of(site: Path, text: bytes) -> tuple[str, bytes]:
    """The one page that shows ``text``: (snapshot name, bytes)."""
    found = [(name, html) for name, html in pages(site).items() if text in html]
    assert len(found) == 1
    return found[0]


def test_a_template_override_makes_the_cache_stale(tmp_path: Path):
    site = make_site(tmp_path / "site")
    ids = add_customers(site)
    run(site, "build", "--full")
    run(site, "charge", ids[0], "3", "Cached")
    overrides = site / "site_templates"
    overrides.mkdir()
    page = (builtin_templates_dir() / "page.html").read_text(encoding="utf-8")
    marked = page.replace("{% block scripts %}", "{% block scripts %}<!-- our own page -->", 1)
    assert marked != page
    (overrides / "page.html").write_text(marked, encoding="utf-8")
    _, loaded = run_probed(site, "charge", ids[0], "4", "Overridden")
    assert "jinja2" in loaded
    name, charged = page_of(site, b"Overridden")
    assert b"<!-- our own page -->" in charged
    assert fresh_full_build(site)[name] == charged
    run(site, "build")  # the fingerprint changed: every page is rewritten with the override
    assert all(b"<!-- our own page -->" in html for html in pages(site).values())
    assert pages(site) == fresh_full_build(site)


def test_an_edited_asset_or_settings_file_makes_the_cache_stale(tmp_path: Path):
    site = make_site(tmp_path / "site")
    ids = add_customers(site)
    run(site, "build", "--full")
    overrides = site / "site_templates"
    overrides.mkdir()
    css = (builtin_templates_dir() / "paylink.css").read_text(encoding="utf-8")
    (overrides / "paylink.css").write_text(css + "\n/* ours */\n", encoding="utf-8")
    run(site, "charge", ids[0], "3", "New stylesheet")  # the page names the new stylesheet
    name, charged = page_of(site, b"New stylesheet")
    assert fresh_full_build(site)[name] == charged
    settings = site / "paylink.toml"
    settings.write_text(
        settings.read_text(encoding="utf-8").replace("Test <Plumbing> & Sons", "Renamed & Co"), encoding="utf-8"
    )
    run(site, "charge", ids[1], "4", "After the rename")
    name, charged = page_of(site, b"After the rename")
    assert b"Renamed &amp; Co" in charged
    assert fresh_full_build(site)[name] == charged


@pytest.mark.parametrize("damage", ["loosened", "corrupt", "other key", "truncated"])
def test_a_damaged_cache_is_ignored_and_replaced(tmp_path: Path, damage: str):
    site = make_site(tmp_path / "site")
    ids = add_customers(site)
    run(site, "build", "--full")
    cache = site / PAGE_CACHE
    data = cache.read_bytes()
    head, _, body = data.partition(b"\n")
    if damage == "loosened":
        os.chmod(cache, 0o644)
    elif damage == "corrupt":
        cache.write_bytes(head + b"\n" + body.replace(b"<", b"<script>", 5))
    elif damage == "other key":
        header = json.loads(head)
        header["key"][0] = -1
        cache.write_bytes(json.dumps(header).encode() + b"\n" + body.replace(b"<html", b"<html data-evil"))
    else:
        cache.write_bytes(data[: len(data) // 2])
    _, loaded = run_probed(site, "charge", ids[0], "3", "Ignoring the cache")
    assert "jinja2" in loaded
    assert os.stat(cache).st_mode & 0o777 == 0o600  # replaced by a private one
    assert not any(b"data-evil" in html for html in pages(site).values())
    assert pages(site) == fresh_full_build(site)


def test_a_command_that_fails_writes_no_page_cache(tmp_path: Path):
    site = make_site(tmp_path / "site")
    ids = add_customers(site)
    (site / PAGE_CACHE).unlink(missing_ok=True)
    done = subprocess.run([PAYLINK, "--site", str(site), "charge", "999", "5", "Nobody"], capture_output=True)
    assert done.returncode == 1
    assert not (site / PAGE_CACHE).exists()
    run(site, "charge", ids[0], "5", "Somebody")
    assert (site / PAGE_CACHE).exists()


def test_a_changed_template_of_paylink_itself_makes_the_cache_stale(tmp_path: Path):
    """The installed templates are in the cache's key too (an upgrade of paylink replaces them)."""
    site = make_site(tmp_path / "site")
    ids = add_customers(site)
    run(site, "build", "--full")
    copy = tmp_path / "templates"
    shutil.copytree(builtin_templates_dir(), copy)
    from paylink.page_cache import cache_key
    from paylink.render import catalog_files, template_dirs
    from paylink.settings import load_settings

    settings = load_settings(site / "paylink.toml")
    key = cache_key(settings, [copy], [])
    assert cache_key(settings, [copy], []) == key
    page = copy / "page.html"
    page.write_text(page.read_text(encoding="utf-8") + " ", encoding="utf-8")
    assert cache_key(settings, [copy], []) != key
    assert cache_key(settings, template_dirs(site / "site_templates"), catalog_files())[4:] != key[4:]
    assert ids


LOCALES = [
    ("en_US", "America/Chicago"),
    ("es_US", "America/Los_Angeles"),
    ("es_ES", "Europe/Madrid"),
    ("de_DE", "Europe/Berlin"),
    ("fr_FR", "Europe/Paris"),
    ("en_GB", "Europe/London"),
    ("ja_JP", "Asia/Tokyo"),
    ("zh_CN", "Asia/Shanghai"),
    ("ko_KR", "Asia/Seoul"),
    ("ar_EG", "Africa/Cairo"),
    ("hi_IN", "Asia/Kolkata"),
    ("pt_BR", "America/Sao_Paulo"),
]


@pytest.mark.parametrize(("locale", "timezone"), LOCALES)
def test_learnt_dates_equal_babel(locale: str, timezone: str):
    """Dates, times and zone names from learnt facts equal Babel's on days and minutes it was not probed on."""
    from zoneinfo import ZoneInfo

    from babel.dates import format_date, format_datetime, format_time

    facts = json.loads(json.dumps(date_facts(locale, timezone)))  # as the cache file keeps them
    assert facts["fast"], locale
    learnt = _LearntDates(facts)
    rng = random.Random(locale)
    zone = ZoneInfo(timezone)
    for _ in range(300):
        day = dt.date(1990, 1, 1) + dt.timedelta(days=rng.randrange(60 * 365))
        assert learnt.date(day) == format_date(day, "medium", locale=locale)
        hour, minute = rng.randrange(24), rng.randrange(60)
        assert learnt.time(hour, minute) == format_time(dt.time(hour, minute), "short", locale=locale)
        moment = dt.datetime(ZONE_YEARS[0], 1, 1, tzinfo=dt.UTC) + dt.timedelta(
            minutes=rng.randrange((ZONE_YEARS[1] - ZONE_YEARS[0]) * 365 * 24 * 60)
        )
        local = moment.astimezone(zone)
        name = learnt.zone(local)
        if name is not None:
            assert name == format_datetime(local, "z", tzinfo=local.tzinfo, locale=locale)
