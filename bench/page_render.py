"""In-process page rendering speed: µs per page on a bench site (no file is written).

    python bench/page_render.py SITE_DIR [--make N]

With ``--make N`` a site of N customers (bench/data.py: 25 entries each, all
linked) is made at SITE_DIR first. Every live page's statement is read once,
then rendered by a fresh renderer without the page cache (Jinja for the first
pages, then the compiled page), and by the workspace's renderer, which draws
from the page cache a real ``paylink build --full`` saved. Prints one JSON line: µs a page for each run (best of three).
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def main(argv: list[str]) -> None:
    root = Path(argv[0]).absolute()
    if "--make" in argv:
        import data

        data.make_site([str(Path(sys.executable).parent / "paylink")], root, int(argv[argv.index("--make") + 1]))
    import subprocess

    # A real build writes every page and saves the page cache the "cached" run draws from.
    paylink = [sys.executable, "-c", "from paylink.cli import main; main()"]  # this interpreter's paylink
    subprocess.run([*paylink, "--site", str(root), "build", "--full"], check=True, stdout=subprocess.DEVNULL)
    from paylink.actions import Workspace

    results: dict[str, float] = {}
    for run in ("fresh", "cached"):
        best = float("inf")
        for _ in range(3):
            with Workspace.find(str(root)) as ws:
                writer = ws.pages()
                ids = [r[0] for r in ws.conn.execute("SELECT customer_id FROM links WHERE retired_at IS NULL")]
                statements = [s for _, s in writer._statements(ids)]
                renderer = writer.renderer
                if run == "fresh":
                    renderer = type(renderer)(ws.settings, None)  # no page cache
                start = time.process_time()  # CPU time: the machine may be shared
                for statement in statements:
                    renderer.page(statement)
                best = min(best, (time.process_time() - start) / len(statements) * 1e6)
        results[f"{run}_us_per_page"] = round(best, 1)
    print(json.dumps({"pages": len(statements), **results}))


if __name__ == "__main__":
    main(sys.argv[1:])
