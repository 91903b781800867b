"""`paylink import payments` of 10,000 payments, beside its floor: `paylink import entries` of the same credits.

    .venv/bin/python bench/payments_bench.py [--customers 1000] [--payments 10000] [--rounds 3]

A site of N customers (25 entries each, all linked, every page built) is made
once with ``data.make_site``. Before each command its ledger, cache files and
``build/`` are restored (a page whose bytes did not change is not written
again, so without that a command would find the pages of the one before it
already written when their descriptions match). Each round runs, as the owner
would, ``paylink import payments`` of a Venmo statement, of a camt.053
statement and of a plain CSV, each of the same payments (random customers, by
their payment reference in the note), and ``paylink import entries`` of the
same payments as credit rows (the floor: the same ledger rows and pages,
without matching or remembering payment ids). Commands alternate by round;
each figure is the median wall time, and beside it the median CPU time (user
and system, the command's and its children's: the steadier figure on a
shared machine, where the page files' fsyncs wait on other work's disk). Every run must import exactly the
payments given. Prints a table and one JSON line. The target: under 5 s.
"""

import argparse
import csv
import datetime as dt
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from data import make_site
from procs import run_timed

from bench import copy_database

TARGET_S = 5.0


def write_payments(folder: Path, payments: int, customers: int, seed: int = 3) -> dict[str, Path]:
    """The same payments as a Venmo statement, a camt.053 statement, a plain CSV, and entries rows (the floor)."""
    rng = random.Random(seed)
    today = dt.date.today()
    rows = []
    for n in range(payments):
        customer = rng.randrange(1, customers + 1)
        cents = max(100, int(rng.lognormvariate(9.0, 1.0)))
        day = today - dt.timedelta(days=rng.randrange(1, 60))
        rows.append((n, customer, cents, day))

    def money(cents: int) -> str:
        return f"{cents // 100}.{cents % 100:02d}"

    files = {name: folder / name for name in ("venmo.csv", "camt053.xml", "plain.csv", "entries.csv")}
    with open(files["venmo.csv"], "w", newline="", encoding="utf-8") as out:
        out.write("Account Statement - (@Bench) ,,,,,,,,\nAccount Activity,,,,,,,,\n")
        writer = csv.writer(out)
        writer.writerow(("", "ID", "Datetime", "Type", "Status", "Note", "From", "To", "Amount (total)"))
        for n, customer, cents, day in rows:
            writer.writerow(
                (
                    "",
                    f"40{n:017d}",
                    f"{day.isoformat()}T10:{n % 60:02d}:00",
                    "Payment",
                    "Complete",
                    f"Payment for C-{customer:06d}, thanks!",
                    f"Customer {customer}",
                    "Bench",
                    f"+ ${cents // 100:,}.{cents % 100:02d}",
                )
            )
    with open(files["camt053.xml"], "w", encoding="utf-8") as out:
        out.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>'
            "<GrpHdr><MsgId>BENCH</MsgId><CreDtTm>2026-01-01T00:00:00</CreDtTm></GrpHdr><Stmt><Id>1</Id>"
            "<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>\n"
        )
        for n, customer, cents, day in rows:
            out.write(
                f'<Ntry><Amt Ccy="USD">{money(cents)}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
                f"<BookgDt><Dt>{day.isoformat()}</Dt></BookgDt><AcctSvcrRef>B{n:012d}</AcctSvcrRef>"
                f"<NtryDtls><TxDtls><RltdPties><Dbtr><Nm>Customer {customer}</Nm></Dbtr></RltdPties>"
                f"<RmtInf><Ustrd>Invoice C-{customer:06d}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>\n"
            )
        out.write("</Stmt></BkToCstmrStmt></Document>\n")
    with open(files["plain.csv"], "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(("date", "amount", "reference", "id", "name"))
        for n, customer, cents, day in rows:
            writer.writerow((day.isoformat(), money(cents), f"C-{customer:06d}", f"p-{n}", f"Customer {customer}"))
    with open(files["entries.csv"], "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(("customer", "kind", "amount", "description", "date"))
        for _n, customer, cents, day in rows:
            writer.writerow((f"C-{customer:06d}", "credit", money(cents), "Payment via Venmo", day.isoformat()))
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--payments", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    paylink = Path(sys.executable).parent / "paylink"
    if not paylink.exists():
        sys.exit(f"Error: no paylink beside {sys.executable} — install paylink in this venv (pip install -e .)")
    workdir = Path(tempfile.mkdtemp(prefix="paylink-payments-bench-"))
    try:
        site = make_site([str(paylink)], workdir / "site", args.customers)
        subprocess.run([str(paylink), "--site", str(site.root), "build"], check=True, stdout=subprocess.DEVNULL)
        pristine = workdir / "pristine.db"
        copy_database(site.db_path, pristine)
        # The site's cache files too: each command starts from the same state, not from the last one's.
        caches = {p.name: p.read_bytes() for p in site.root.glob(".paylink-*.cache")}
        # And build/: a page whose bytes did not change is not written again, so a command that follows
        # one with the same descriptions (Venmo, then entries) would find its pages already written.
        pristine_build = workdir / "pristine-build"
        shutil.copytree(site.build_dir, pristine_build, symlinks=True)
        files = write_payments(workdir, args.payments, args.customers)
        commands = {
            "import payments (Venmo CSV)": ["import", "payments", str(files["venmo.csv"]), "--json"],
            "import payments (camt.053)": ["import", "payments", str(files["camt053.xml"]), "--json"],
            "import payments (plain CSV)": ["import", "payments", str(files["plain.csv"]), "--json"],
            "import entries (floor)": ["import", "entries", str(files["entries.csv"]), "--json"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _round in range(args.rounds):
            for name, argv in commands.items():
                copy_database(pristine, site.db_path)
                shutil.rmtree(site.build_dir)
                shutil.copytree(pristine_build, site.build_dir, symlinks=True)
                for cache in site.root.glob(".paylink-*.cache"):
                    cache.unlink()
                for cache_name, cache_bytes in caches.items():
                    (site.root / cache_name).write_bytes(cache_bytes)
                run = run_timed([str(paylink), "--site", str(site.root), *argv])
                if run.returncode != 0 or run.json()["imported"] != args.payments:
                    raise RuntimeError(f"{name}: {run.stderr or run.stdout}")
                times[name].append(run.seconds)
                cpu[name].append(run.user_s + run.sys_s)
        floor = statistics.median(times["import entries (floor)"])
        print(f"{args.payments:,} payments over {args.customers:,} linked customers, median of {args.rounds} rounds")
        cpu_floor = statistics.median(cpu["import entries (floor)"])
        print(f"{'command':32} {'seconds':>8} {'vs floor':>9} {'CPU s':>7} {'vs floor':>9}")
        for name, runs in times.items():
            median, cpu_s = statistics.median(runs), statistics.median(cpu[name])
            print(f"{name:32} {median:8.2f} {median / floor:8.2f}x {cpu_s:7.2f} {cpu_s / cpu_floor:8.2f}x")
        worst = max(statistics.median(runs) for name, runs in times.items() if name.startswith("import payments"))
        verdict = "ok" if worst < TARGET_S else "OVER"
        print(f"slowest import payments: {worst:.2f} s (target < {TARGET_S:.0f} s): {verdict}")
        summary = {name: round(statistics.median(runs), 3) for name, runs in times.items()}
        cpu_summary = {name: round(statistics.median(runs), 3) for name, runs in cpu.items()}
        print(
            json.dumps(
                {"payments": args.payments, "customers": args.customers, "seconds": summary, "cpu_s": cpu_summary}
            )
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
