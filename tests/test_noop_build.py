"""A `paylink build` with nothing to do (issue 17): it finds so without loading the page-drawing code, and
whatever is left to do (a page due, a file missing from build/, no page cache) still takes the full path.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PAYLINK, Paylink
from sitepages import build_files, insert_entry, live_snapshot, read_page

# What a page needs and a build with nothing to do must not load (each costs start-up time).
DRAWING = {
    "paylink.render",
    "paylink.facts",
    "paylink.compiled_page",
    "paylink.page_helpers",
    "paylink.ledger",
    "paylink.model",
    "jinja2",
    "babel",
}
# The acts a build does not run: their modules (and result types) stay unloaded.
OTHER_ACTS = {"paylink.actions.customers", "paylink.actions.links", "paylink.actions.posting"}


def build_loading(site: Path) -> tuple[dict, set[str]]:
    """Run the real `paylink build --json` on ``site``; return its document and the modules it imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", PAYLINK, "--site", str(site), "build", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    modules = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    return json.loads(done.stdout), modules


@pytest.fixture
def built(paylink: Paylink, site: Path) -> list[int]:
    """Two customers with live links, every page written and the page cache saved."""
    ids = []
    for name in ("Ann", "Ben"):
        customer_id = paylink.json("customer", "add", name)["id"]
        paylink.ok("charge", str(customer_id), "12.50", "Work")
        paylink.ok("link", "generate", str(customer_id))
        ids.append(customer_id)
    paylink.ok("build")
    return ids


def test_a_build_with_nothing_to_do_loads_no_page_drawing_code(site, built):
    before = build_files(site)
    document, modules = build_loading(site)
    assert document == {"written": 0, "removed": 0}
    assert build_files(site) == before
    assert "paylink.pages" in modules  # the walk sees paylink's own modules
    assert not modules & DRAWING, sorted(modules & DRAWING)
    assert not modules & OTHER_ACTS, sorted(modules & OTHER_ACTS)


def test_a_page_another_program_made_due_is_written(site, built):
    """The quick look sees a page due (an entry inserted by another program) and the build writes it."""
    insert_entry(site, built[0], 700, "Filter change")
    document, modules = build_loading(site)
    assert document == {"written": 1, "removed": 0}
    assert "paylink.render" in modules
    assert "Filter change" in read_page(site, built[0]).get_text()
    assert build_loading(site)[0] == {"written": 0, "removed": 0}


def test_a_deleted_asset_and_error_page_are_written_again(site, built):
    """build/ missing an asset or a fixed file is work: a plain build puts back the same bytes."""
    before = build_files(site)
    css = next(n for n in before if n.startswith("assets/") and n.endswith(".css"))
    (site / "build" / css).unlink()
    document, _ = build_loading(site)
    assert document == {"written": 0, "removed": 0}
    assert build_files(site) == before
    (site / "build" / "404.html").unlink()
    build_loading(site)
    assert build_files(site) == before


def test_without_the_page_cache_the_build_looks_the_long_way_then_quickly_again(site, built):
    """No page cache (deleted, or stale after an upgrade): the full path finds nothing to do and saves the
    templates' fingerprint, so the next build with nothing to do is quick again."""
    (site / ".paylink-pages.cache").unlink()
    document, modules = build_loading(site)
    assert document == {"written": 0, "removed": 0}
    assert "paylink.render" in modules
    document, modules = build_loading(site)
    assert document == {"written": 0, "removed": 0}
    assert not modules & DRAWING, sorted(modules & DRAWING)


def test_a_deleted_page_is_written_again_after_a_quick_build(site, built):
    """A page removed from build/p changes the folder: the sweep runs and the page comes back."""
    build_loading(site)
    page = site / "build" / "p" / str(live_snapshot(site, built[1]))
    data = page.read_bytes()
    page.unlink()
    document, _ = build_loading(site)
    assert document == {"written": 1, "removed": 0}
    assert page.read_bytes() == data
