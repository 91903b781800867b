"""The page cache (generator/page_cache.py): a posting command draws its page without Jinja or Babel,
and the page is byte for byte the one a fresh full build writes.

Every command these first tests check is the real `paylink` console script in its
own process, so nothing learnt in one command (caches, primed formats) can leak
into another except through the cache file itself; the ledgers they start from
are made in this process (the real CLI through CliRunner), and the cache those
checked commands use is written anew by one of them (a full build in a process of
its own), or removed first.
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
from conftest import PAYLINK, Paylink
from conftest import make_site as conftest_make_site
from paylink.dates import ZONE_YEARS, _LearntDates, date_facts
from paylink.page_cache import PAGE_CACHE
from paylink.render import builtin_templates_dir
from paylink.site import SETTINGS_CACHE

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


@pytest.mark.parametrize("extra", list(SITES.values()), ids=list(SITES))
def test_pages_drawn_from_the_cache_equal_a_fresh_full_build(tmp_path: Path, extra: list[str]):
    site = make_site_here(tmp_path / "site", *extra)  # the ledger made in this process: not what is tested,
    ids = add_customers_here(site)  # and the build below, in a process of its own, rewrites the cache
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
    site = make_site_here(tmp_path / "site")
    ids = add_customers_here(site)
    (site / PAGE_CACHE).unlink()
    _, loaded = run_probed(site, "charge", ids[0], "3", "First")  # draws with Jinja, learns this page's shape
    assert "jinja2" in loaded
    _, loaded = run_probed(site, "charge", ids[0], "4", "Second")
    assert loaded == set()
    _, loaded = run_probed(site, "build")  # a no-op build takes the fingerprint from the cache
    assert loaded == set()
    after = pages(site)
    assert after == fresh_full_build(site)


# --- staleness, damage and failure: in-process (the real CLI through CliRunner) -----------------
#
# What a command imports can only be seen in a process of its own (above). Whether a cache is
# used or replaced shows in the cache file itself: a stale or damaged one is rewritten under the
# current key, and every page must still be the one a fresh full build writes.


def cli(site: Path) -> Paylink:
    return Paylink(site)


def add_customers_here(site: Path) -> list[str]:
    """Customers in both languages and every state, one with more entries than a page shows, added in this process."""
    paylink = cli(site)
    ids = []
    for name, language in [("Ann <b>O'Neil</b>", "en"), ("José Núñez", "es"), ("Zoë & Co", None), ("Mo", "es")]:
        args = ["customer", "add", name, *(["--language", language] if language else [])]
        customer = str(paylink.json(*args)["id"])
        paylink.ok("link", "generate", customer)
        ids.append(customer)
    rows = ["customer,kind,amount,description,date", f"{ids[0]},charge,120,Drain <repair> & parts,2026-03-09"]
    rows.append(f"{ids[1]},credit,5,Refund,2026-11-01")
    rows += [f"{ids[3]},charge,{n + 1},Visit {n},2026-0{1 + n % 9}-{10 + n % 18}" for n in range(23)]
    csv_file = site.parent / "entries.csv"
    csv_file.write_text("\n".join(rows) + "\n", encoding="utf-8")
    paylink.ok("import", "entries", str(csv_file))
    return ids


def make_site_here(root: Path, *extra: str) -> Path:
    return conftest_make_site(root, "--name", "Test <Plumbing> & Sons", *extra)  # the last --name counts


def fresh_build_here(site: Path) -> dict[str, bytes]:
    """The pages a full build writes with no cache at all, in this process."""
    (site / PAGE_CACHE).unlink(missing_ok=True)
    cli(site).ok("build", "--full")
    return pages(site)


def cache_header(site: Path) -> dict:
    return json.loads((site / PAGE_CACHE).read_bytes().partition(b"\n")[0])


def current_key(site: Path) -> list:
    """The key a command would take now (the same function the workspace calls)."""
    from paylink.page_cache import cache_key
    from paylink.render import catalog_files, template_dirs
    from paylink.settings import load_settings

    return cache_key(load_settings(site / "paylink.toml"), template_dirs(site / "site_templates"), catalog_files())


def page_of(site: Path, text: bytes) -> tuple[str, bytes]:
    """The one page that shows ``text``: (snapshot name, bytes)."""
    found = [(name, html) for name, html in pages(site).items() if text in html]
    assert len(found) == 1
    return found[0]


def test_a_template_override_makes_the_cache_stale(tmp_path: Path):
    site = make_site_here(tmp_path / "site")
    ids = add_customers_here(site)
    cli(site).ok("build", "--full")
    cli(site).ok("charge", ids[0], "3", "Cached")
    before = cache_header(site)
    assert before["key"] == current_key(site)
    overrides = site / "site_templates"
    overrides.mkdir()
    page = (builtin_templates_dir() / "page.html").read_text(encoding="utf-8")
    marked = page.replace("{% block scripts %}", "{% block scripts %}<!-- our own page -->", 1)
    assert marked != page
    (overrides / "page.html").write_text(marked, encoding="utf-8")
    assert current_key(site) != before["key"]
    cli(site).ok("charge", ids[0], "4", "Overridden")
    name, charged = page_of(site, b"Overridden")
    assert b"<!-- our own page -->" in charged
    assert cache_header(site)["key"] == current_key(site)  # the stale cache was replaced
    assert fresh_build_here(site)[name] == charged
    cli(site).ok("build")  # the fingerprint changed: every page is rewritten with the override
    assert all(b"<!-- our own page -->" in html for html in pages(site).values())
    assert pages(site) == fresh_build_here(site)


def test_a_same_size_edit_of_a_template_makes_the_cache_stale(tmp_path: Path):
    """An edit that keeps the size, with the old modification time put back: the cache is still stale."""
    site = make_site_here(tmp_path / "site")
    ids = add_customers_here(site)
    overrides = site / "site_templates"
    overrides.mkdir()
    page = (builtin_templates_dir() / "base.html").read_text(encoding="utf-8")
    assert "<html" in page
    template = overrides / "base.html"
    template.write_text(page, encoding="utf-8")
    cli(site).ok("build", "--full")
    cli(site).ok("charge", ids[0], "3", "Before the edit")
    assert cache_header(site)["key"] == current_key(site)
    info = os.stat(template)
    template.write_text(page.replace("<html", "<html data-x", 1).replace("\n", "", 7), encoding="utf-8")
    assert os.stat(template).st_size == info.st_size
    os.utime(template, ns=(info.st_atime_ns, info.st_mtime_ns))  # as a restore from a backup might
    cli(site).ok("charge", ids[0], "4", "After the edit")
    name, charged = page_of(site, b"After the edit")
    assert b"<html data-x" in charged
    cli(site).ok("build")  # the fingerprint changed: every page is rewritten, none left as it was
    assert all(b"<html data-x" in html for html in pages(site).values())
    assert fresh_build_here(site)[name] == charged


def test_an_edited_asset_or_settings_file_makes_the_cache_stale(tmp_path: Path):
    site = make_site_here(tmp_path / "site")
    ids = add_customers_here(site)
    cli(site).ok("build", "--full")
    overrides = site / "site_templates"
    overrides.mkdir()
    css = (builtin_templates_dir() / "paylink.css").read_text(encoding="utf-8")
    (overrides / "paylink.css").write_text(css + "\n/* ours */\n", encoding="utf-8")
    cli(site).ok("charge", ids[0], "3", "New stylesheet")  # the page names the new stylesheet
    name, charged = page_of(site, b"New stylesheet")
    assert fresh_build_here(site)[name] == charged
    settings = site / "paylink.toml"
    settings.write_text(
        settings.read_text(encoding="utf-8").replace("Test <Plumbing> & Sons", "Renamed & Co"), encoding="utf-8"
    )
    cli(site).ok("charge", ids[1], "4", "After the rename")
    name, charged = page_of(site, b"After the rename")
    assert b"Renamed &amp; Co" in charged
    assert fresh_build_here(site)[name] == charged


@pytest.mark.parametrize("damage", ["loosened", "corrupt", "other key", "truncated"])
def test_a_damaged_cache_is_ignored_and_replaced(tmp_path: Path, damage: str):
    from paylink.page_cache import read

    site = make_site_here(tmp_path / "site")
    ids = add_customers_here(site)
    cli(site).ok("build", "--full")
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
    cli(site).ok("charge", ids[0], "3", "Ignoring the cache")
    assert os.stat(cache).st_mode & 0o777 == 0o600  # replaced by a private one
    stored = read(cache, current_key(site))
    assert stored is not None and stored.body.get("shapes")  # ... that is current and whole
    assert not any(b"data-evil" in html for html in pages(site).values())
    assert pages(site) == fresh_build_here(site)


def test_a_command_that_fails_writes_no_cache(tmp_path: Path):
    site = make_site_here(tmp_path / "site")
    ids = add_customers_here(site)
    for cache in (site / PAGE_CACHE, site / SETTINGS_CACHE):
        cache.unlink(missing_ok=True)
    cli(site).fails("charge", "999", "5", "Nobody")
    assert not (site / PAGE_CACHE).exists() and not (site / SETTINGS_CACHE).exists()
    cli(site).ok("charge", ids[0], "5", "Somebody")
    assert (site / PAGE_CACHE).exists() and (site / SETTINGS_CACHE).exists()


def test_a_command_that_renders_pages_then_fails_writes_no_cache(tmp_path: Path):
    """`build` renders the first customers' pages, then one page fails: the caches it made are not written."""
    site = make_site_here(tmp_path / "site")
    ids = add_customers_here(site)
    overrides = site / "site_templates"
    overrides.mkdir()
    page = (builtin_templates_dir() / "page.html").read_text(encoding="utf-8")
    boom = page.replace("{% block main %}", '{% block main %}{% if customer.name == "Mo" %}{{ no_such }}{% endif %}')
    (overrides / "page.html").write_text(boom, encoding="utf-8")
    for cache in (site / PAGE_CACHE, site / SETTINGS_CACHE):
        cache.unlink(missing_ok=True)
    before = pages(site)
    result = cli(site).fails("build")
    assert "could not be rendered" in result.stderr
    assert pages(site) == before  # nothing was written: not a page ...
    assert not (site / PAGE_CACHE).exists() and not (site / SETTINGS_CACHE).exists()  # ... nor a cache
    (overrides / "page.html").write_text(page, encoding="utf-8")
    cli(site).ok("build")
    assert (site / PAGE_CACHE).exists() and (site / SETTINGS_CACHE).exists()
    assert ids


def test_the_workspace_saves_its_caches_only_when_its_work_succeeded(tmp_path: Path):
    from paylink.actions import Workspace

    site = make_site_here(tmp_path / "site")
    add_customers_here(site)
    for cache in (site / PAGE_CACHE, site / SETTINGS_CACHE):
        cache.unlink(missing_ok=True)
    with pytest.raises(RuntimeError), Workspace.find(str(site)) as ws:
        assert ws.pages().build(full=True).written == 4  # rendered: there is something to save
        raise RuntimeError("the work failed after rendering")
    assert not (site / PAGE_CACHE).exists() and not (site / SETTINGS_CACHE).exists()
    ws = Workspace.find(str(site))
    ws.pages().build(full=True)
    ws.close(success=False)
    assert not (site / PAGE_CACHE).exists() and not (site / SETTINGS_CACHE).exists()
    with Workspace.find(str(site)) as ws:
        ws.pages().build(full=True)
    assert (site / PAGE_CACHE).exists() and (site / SETTINGS_CACHE).exists()


def test_the_cache_key_covers_every_module_that_draws_a_page(tmp_path: Path):
    """Every module the page's drawing imports (walked from the sources) is in the key, by its file."""
    from paylink.page_cache import OWN_CODE, cache_key
    from paylink.settings import Settings
    from test_import_cycles import PACKAGE, import_graph

    graph = import_graph()
    drawing = {"render", "compiled_page", "page_cache", "facts", "dates"}
    todo = list(drawing)
    while todo:
        for name in graph[todo.pop()]:
            if name not in drawing:
                drawing.add(name)
                todo.append(name)
    files = {f"{name}.py" for name in drawing if "." not in name}
    assert not files - set(OWN_CODE), f"not in page_cache.OWN_CODE: {sorted(files - set(OWN_CODE))}"
    key = json.dumps(cache_key(Settings(name="X").validated(), [], []))
    for name in files:
        assert json.dumps(str(PACKAGE / name))[1:-1] in key or f"/{name}" in key, name


def test_a_changed_template_of_paylink_itself_makes_the_cache_stale(tmp_path: Path):
    """The installed templates are in the cache's key too (an upgrade of paylink replaces them)."""
    from paylink.page_cache import cache_key
    from paylink.render import catalog_files, template_dirs
    from paylink.settings import Settings

    copy = tmp_path / "templates"
    shutil.copytree(builtin_templates_dir(), copy)
    settings = Settings(name="X").validated()
    key = cache_key(settings, [copy], [])
    assert cache_key(settings, [copy], []) == key
    page = copy / "page.html"
    page.write_text(page.read_text(encoding="utf-8") + " ", encoding="utf-8")
    assert cache_key(settings, [copy], []) != key
    assert cache_key(settings, template_dirs(tmp_path / "site_templates"), catalog_files())[4:] != key[4:]


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
