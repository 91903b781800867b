"""The customer page in a real browser: Debian's Chromium driven by Playwright, served by the real edge.

One site with a customer in every state is built with the real CLI and served
by ``python -m paylink.edge.serve`` (granian + ``edge.app``) on 127.0.0.1, so the pages
arrive with the edge's real headers, CSP included. One browser serves the
whole module. Screenshots for a person to look at: ``scripts/screenshots.py`` (opt-in).
"""

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import Paylink, make_site
from edgeserver import running_edge
from paylink.tokens import parse_keys

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
LONG_NAME = "Maximilianus" * 6 + "Bartholomew"[:8]  # 80 characters, no break
LONG_WORD = "Replacement-of-the-" + "x" * 180 + "-valve"
LONG_SENTENCE = "Emergency call-out on a public holiday to replace the corroded pressure-reducing valve " * 4
STATES = ["outstanding", "zero", "credit", "long"]


def make_states_site(root: Path) -> dict:
    """Build a site with a customer in every state; return its root and the path of each one's link."""
    root = make_site(root, "--phone", "555-0100", "--email", "billing@example.com")
    paylink = Paylink(root)

    def add(name: str, *entries: tuple[str, str, str]) -> str:
        customer_id = paylink.json("customer", "add", name)["id"]
        for kind, amount, description in entries:
            paylink.ok(kind, str(customer_id), amount, description, "--date", "2025-04-01")
        return urlsplit(paylink.json("link", "generate", str(customer_id))["url"]).path

    paths = {
        "outstanding": add("Olive Owens", ("charge", "10.05", "Drain repair"), ("charge", "30.00", "Call-out")),
        "zero": add("Zed Zimmer", ("charge", "40.00", "Boiler check"), ("credit", "40.00", "Paid in cash")),
        "credit": add("Cora Cole", ("credit", "7.25", "Overpayment")),
        "long": add(
            LONG_NAME,
            ("charge", "1000000000", LONG_WORD),
            ("charge", "999999.99", LONG_SENTENCE.strip()[:500]),
            ("credit", "0.01", LONG_WORD[::-1]),
        ),
    }
    assert len(LONG_NAME) == 80
    return {"root": root, "paths": paths}


@pytest.fixture(scope="module")
def served_site(tmp_path_factory) -> dict:
    """A built site with a customer in every state, and the path of each one's link."""
    return make_states_site(tmp_path_factory.mktemp("browser") / "site")


@pytest.fixture(scope="module")
def edge(served_site, tmp_path_factory) -> Iterator[str]:
    """The origin of the real edge serving the site's build/ (python -m paylink.edge.serve)."""
    root = served_site["root"]
    keys = parse_keys((root / "paylink.key").read_text(encoding="utf-8"))
    with running_edge(root / "build", keys, tmp_path_factory.mktemp("edge") / "edge.log") as server:
        yield server.origin


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Problems:
    """Console errors, uncaught exceptions and failed or refused requests seen by a page."""

    def __init__(self, page):
        self.seen: list[str] = []
        page.on("console", lambda m: self.seen.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.seen.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: self.seen.append(f"requestfailed: {r.url} {r.failure}"))
        page.on("response", lambda r: self.seen.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)


class Pages:
    """One Chromium page with JavaScript and one without, each reused by every test (a new page is a
    new renderer process, ~0.3 s of CPU; a navigation a quarter of that). Each ``open`` sets the
    viewport, clears the problems seen so far and navigates anew (no storage or cookies carry over)."""

    def __init__(self, browser):
        self.browser = browser
        self.pages: dict[bool, tuple] = {}

    def open(self, edge: str, served_site: dict, state: str, *, width: int = 390, javascript: bool = True):
        if javascript not in self.pages:
            page = self.browser.new_context(java_script_enabled=javascript).new_page()
            self.pages[javascript] = (page, Problems(page))
        page, problems = self.pages[javascript]
        page.set_viewport_size({"width": width, "height": PHONE["height"]})
        problems.seen.clear()
        response = page.goto(edge + served_site["paths"][state], wait_until="load")
        assert response.status == 200
        return page, problems, response


@pytest.fixture(scope="module")
def pages(browser) -> Pages:
    return Pages(browser)


# --- behaviour ---------------------------------------------------------------------


def test_choosing_a_tip_updates_the_total(pages, edge, served_site):
    page, problems, _ = pages.open(edge, served_site, "outstanding")
    total = page.locator("#total")
    assert total.inner_text() == "$40.05"
    for percent in ("18", "25", "20", "0"):
        page.locator(f'label[for="tip-{percent}"]').click()
        radio = page.locator(f'input[name="tip"][value="{percent}"]')
        assert radio.is_checked()
        expected = radio.get_attribute("data-total")
        page.wait_for_function(
            "([sel, want]) => document.querySelector(sel).textContent.trim() === want",
            arg=["#total", expected],
            timeout=2000,
        )
        assert total.inner_text() == expected
    assert (
        page.locator('input[name="tip"][value="18"]').get_attribute("data-total") == "$47.26"
    )  # 40.05 + 7.209 -> 7.21
    assert problems.seen == []


def test_recent_charges_open_on_click(pages, edge, served_site):
    page, problems, _ = pages.open(edge, served_site, "outstanding")
    details = page.locator("details#recent-charges")
    rows = details.locator("tbody tr")
    assert details.evaluate("d => d.open") is False
    assert not rows.first.is_visible()
    page.get_by_text("View recent charges").click()
    assert details.evaluate("d => d.open") is True
    assert rows.count() == 2
    for i in range(2):
        assert rows.nth(i).is_visible()
    assert rows.first.locator("td").nth(1).inner_text() == "Call-out"
    assert problems.seen == []


@pytest.mark.parametrize("state", STATES)
def test_no_console_errors_or_csp_violations(pages, edge, served_site, state):
    page, problems, response = pages.open(edge, served_site, state)
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    page.wait_for_load_state("networkidle")
    if page.locator("#tip-18").count():
        page.locator('label[for="tip-18"]').click()
    page.get_by_text("View recent charges").click()
    page.wait_for_timeout(100)
    assert page.evaluate("() => document.styleSheets.length") == 1
    assert page.evaluate("() => getComputedStyle(document.body).marginTop") == "0px"  # the stylesheet applied
    assert problems.seen == []


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("width", [390, 320])
def test_no_sideways_scrolling_on_a_phone(pages, edge, served_site, state, width):
    page, problems, _ = pages.open(edge, served_site, state, width=width)
    page.get_by_text("View recent charges").click()
    scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll_width <= width, f"page is {scroll_width}px wide on a {width}px screen"
    assert problems.seen == []


def test_page_works_without_javascript(pages, edge, served_site):
    page, _, _ = pages.open(edge, served_site, "outstanding", javascript=False)
    assert page.locator("#balance").inner_text() == "$40.05"
    assert page.locator("#balance").is_visible()
    expected = {"0": "$0.00", "18": "$7.21", "20": "$8.01", "25": "$10.01"}
    for percent, amount in expected.items():
        label = page.locator(f'label[for="tip-{percent}"]')
        assert label.is_visible()
        assert amount in label.inner_text()
    assert page.locator("#total").is_visible() and page.locator("#total").inner_text() == "$40.05"
    assert page.locator('input[name="tip"][value="0"]').is_checked()
