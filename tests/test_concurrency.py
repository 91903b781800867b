"""Several `paylink` processes on one site at once (CONTRACT §2 `--key`, §5): the real console script, really in parallel."""

import json
import os
import subprocess
from contextlib import closing
from pathlib import Path

import pytest
from conftest import PAYLINK
from sitepages import balance_text, ledger, page_names, read_page

PROCESSES = 6
TIMEOUT_S = 60


@pytest.fixture(scope="module")
def environment() -> dict[str, str]:
    if PAYLINK is None:
        pytest.fail("the paylink console script is not installed (pip install -e .)")
    env = {k: v for k, v in os.environ.items() if k not in ("PAYLINK_SITE", "PAYLINK_SECRET_KEY", "PAYLINK_DEBUG")}
    return env


def run_at_once(site: Path, env: dict[str, str], commands: list[list[str]]) -> list[subprocess.CompletedProcess]:
    """Start every command before waiting for any, then collect them all."""
    procs = [
        subprocess.Popen(
            [PAYLINK, "--site", str(site), *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for command in commands
    ]
    done = []
    try:
        for proc, command in zip(procs, commands, strict=False):
            out, err = proc.communicate(timeout=TIMEOUT_S)
            done.append(subprocess.CompletedProcess(command, proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return done


def assert_all_succeeded(results: list[subprocess.CompletedProcess]) -> None:
    for result in results:
        assert result.returncode == 0, f"{result.args}: {result.stderr}"
        assert result.stderr == "", f"{result.args}: {result.stderr}"


def entries(site: Path) -> list[tuple[int, int, int]]:
    with closing(ledger(site)) as conn, conn:
        return conn.execute("SELECT id, customer_id, amount_minor FROM entries ORDER BY id").fetchall()


def test_concurrent_charges_all_land(site, paylink, environment):
    paylink.ok("customer", "add", "Jane", "--ref", "JANE")
    paylink.ok("link", "generate", "JANE")
    amounts = [f"{n}.{n:02d}" for n in range(1, PROCESSES + 1)]  # 1.01, 2.02, ... 6.06

    results = run_at_once(site, environment, [["charge", "JANE", a, f"Job {a}", "--json"] for a in amounts])

    assert_all_succeeded(results)
    docs = [json.loads(r.stdout) for r in results]
    posted = entries(site)
    assert len(posted) == PROCESSES
    assert sorted(d["entry_id"] for d in docs) == [e[0] for e in posted]
    assert sorted(a for _, _, a in posted) == sorted(101 * n for n in range(1, PROCESSES + 1))
    total = sum(101 * n for n in range(1, PROCESSES + 1))  # 21.21
    # Each process saw the balance right after its own entry: the running sum in commit order.
    running = 0
    for doc in sorted(docs, key=lambda d: d["entry_id"]):
        running += doc["amount_minor"]
        assert doc["balance_minor"] == running
    assert running == total
    assert paylink.json("customer", "show", "JANE")["balance_minor"] == total
    assert balance_text(site, 1) == "$21.21"


def test_concurrent_retries_with_one_key_post_once(site, paylink, environment):
    paylink.ok("customer", "add", "Jane", "--ref", "JANE")
    paylink.ok("link", "generate", "JANE")
    command = ["charge", "JANE", "49.99", "Annual service", "--key", "invoice-2026-001", "--json"]

    results = run_at_once(site, environment, [command] * PROCESSES)

    assert_all_succeeded(results)
    assert len(entries(site)) == 1
    assert len({r.stdout for r in results}) == 1  # byte-identical answers
    assert json.loads(results[0].stdout)["entry_id"] == entries(site)[0][0]
    assert json.loads(results[0].stdout)["balance_minor"] == 4999
    assert balance_text(site, 1) == "$49.99"


def test_pages_are_current_after_posts_race_a_full_build(site, tmp_path, paylink, environment):
    many = tmp_path / "customers.csv"
    many.write_text(
        "name,email,phone,ref\n" + "".join(f"Customer {i},,,C{i}\n" for i in range(1, 301)), encoding="utf-8"
    )
    assert paylink.json("import", "customers", str(many)) == {"imported": 300, "skipped": 0}
    assert len(paylink.json("link", "generate", "--all")) == 300
    paylink.ok("charge", "C1", "100", "Opening balance")
    paylink.ok("charge", "C2", "5", "Opening balance")

    commands = [["build", "--full", "--json"]]
    for i in range(1, 4):
        commands.append(["charge", "C1", f"{i}.50", f"Job {i}", "--json"])
        commands.append(["credit", "C2", f"{i}", f"Payment {i}", "--json"])
    results = run_at_once(site, environment, commands)

    assert_all_succeeded(results)
    assert json.loads(results[0].stdout)["written"] >= 300
    # C1: 100 + 1.50 + 2.50 + 3.50; C2: 5 - 1 - 2 - 3 = -1 (a credit, shown as a positive amount).
    assert paylink.json("customer", "show", "C1")["balance_minor"] == 10750
    assert paylink.json("customer", "show", "C2")["balance_minor"] == -100
    first, second = read_page(site, 1), read_page(site, 2)
    assert first.select_one("#balance").get_text(strip=True) == "$107.50"
    assert first.select_one("main")["data-state"] == "outstanding"
    assert second.select_one("#balance").get_text(strip=True) == "$1.00"
    assert second.select_one("main")["data-state"] == "credit"
    assert len(first.select("details#recent-charges tbody tr")) == 4
    assert len(second.select("details#recent-charges tbody tr")) == 4
    assert balance_text(site, 3) == "$0.00"
    # Nothing half-written is left behind, and a later build has nothing to repair.
    pages = page_names(site)
    assert len(pages) == 300 and not any(name.startswith(".tmp-") for name in pages)
    assert paylink.json("build") == {"written": 0, "removed": 0}
