#!/usr/bin/env python3
"""Screenshots of the customer page in every state, for a person to look at (not a test: opt-in).

Builds the browser tests' site (a customer in each state) with the real CLI, serves it with the real
edge on 127.0.0.1 and saves a full-page PNG of each state, at phone width, with Debian's Chromium.

    PATH=.venv/bin:$PATH .venv/bin/python scripts/screenshots.py shots/
"""

import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from edgeserver import running_edge  # noqa: E402
from paylink.tokens import parse_keys  # noqa: E402
from test_browser import CHROMIUM, CHROMIUM_ARGS, PHONE, STATES, make_states_site  # noqa: E402


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch:
        site = make_states_site(Path(scratch) / "site")
        root = site["root"]
        keys = parse_keys((root / "paylink.key").read_text(encoding="utf-8"))
        with running_edge(root / "build", keys, Path(scratch) / "edge.log") as edge, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport=PHONE)
                for state in STATES:
                    response = page.goto(edge.origin + site["paths"][state], wait_until="networkidle")
                    if response is None or response.status != 200:
                        print(f"Error: {state} page answered {response and response.status}", file=sys.stderr)
                        return 1
                    shot = out / f"{state}.png"
                    page.screenshot(path=str(shot), full_page=True)
                    print(shot)
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
