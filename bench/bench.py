"""paylink's bench: every figure beside its floor or peer, measured in one run on this machine.

    bench/run [--quick] [--only build,noop,...] [--workdir DIR] [--keep] [--profile] [--worker-dir DIR]

Creates its own sites in a fresh temp folder (a small and a large one, 25
entries per customer, every customer linked, the large one with one more
customer holding 10,000 entries; a third one to publish), measures, prints a
table with PASS/MISS per row and then one JSON line (``{"bench": "paylink", ...}``).
A measurement that fails (a command that does not exist yet, a server that
does not start) is reported as ERROR on its rows; the others go on. A row that
cannot be measured on this machine (no Worker in edge/worker/) is SKIPPED with
its reason. Exit status 0 whenever the bench itself ran, whatever the figures.
"""

import argparse
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import platform
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import traceback
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "bench"
# the in-process measurements use the installed paylink (an editable install is this checkout)

import http_load  # noqa: E402
import s3  # noqa: E402
from data import ENTRIES_PER_CUSTOMER, BenchSite, make_site, set_settings, write_entries_csv  # noqa: E402
from paylink import layout, tokens  # noqa: E402
from procs import Run, Summary, hyperfine, run_timed, time_interleaved  # noqa: E402
from report import Row, Target, json_line, table  # noqa: E402


@dataclass(frozen=True)
class Scale:
    """How big and how long: the full bench, or a quick smoke run."""

    name: str
    small: int  # customers in the small site
    large: int  # customers in the large site
    import_rows: int
    wrk_seconds: int  # per wrk run
    edge_rounds: int  # wrk runs per server, alternating between the edge and nginx
    build_runs: int  # full builds timed; a floor run follows each
    cli_runs: int  # timed runs per command (charge, no-op build, --help, python -c pass)
    posts: int  # in-process posts timed
    publish_pages: int  # customers (pages) of the site published to moto
    publish_rounds: int  # first publishes timed; a put_object loop runs before each
    statement_entries: int  # entries of the large site's heavy customer
    pay_customers: int  # customers of the sites built with and without [[pay]] methods


FULL = Scale(
    "full",
    small=100,
    large=100_000,
    import_rows=1_000_000,
    wrk_seconds=10,
    edge_rounds=3,
    build_runs=3,
    cli_runs=15,
    posts=300,
    publish_pages=10_000,
    publish_rounds=2,
    statement_entries=10_000,
    pay_customers=10_000,
)
QUICK = Scale(
    "quick",
    small=1_000,
    large=10_000,
    import_rows=100_000,
    wrk_seconds=3,
    edge_rounds=3,
    build_runs=2,
    cli_runs=10,
    posts=200,
    publish_pages=1_000,
    publish_rounds=1,
    statement_entries=10_000,
    pay_customers=2_000,
)
# The [[pay]] methods of the "full build, two pay methods" rows: (row id, what the row says, currency, tables).
PAY_SITES = (
    (
        "pay_build_paypal_venmo",
        "PayPal + Venmo",
        "USD",
        '[[pay]]\nmethod = "paypal"\nhandle = "benchplumbing"\n\n[[pay]]\nmethod = "venmo"\nhandle = "Bench-Plumbing"\n',
    ),
    (
        "pay_build_sepa_paypal",
        "SEPA (QR codes) + PayPal",
        "EUR",
        '[[pay]]\nmethod = "sepa"\niban = "DE89370400440532013000"\nname = "Bench Landscaping & Plumbing"\n'
        'bic = "COBADEFFXXX"\n\n[[pay]]\nmethod = "paypal"\nhandle = "benchplumbing"\n',
    ),
)
IMPORT_TARGET_S = 25.0  # for 1,000,000 rows; scaled to the rows imported in a quick run
BUCKET = "bench"
PUBLISH_PREFIX = "site"


def make_rows(scale: Scale) -> dict[str, Row]:
    """The rows of the report, in order: what each measures, against what, and its target (issue 13's table)."""
    n = f"{scale.large:,}"
    rows = [
        Row(
            "full_build_time",
            f"full build, {n} customers",
            "s",
            Target("ratio", "<=", 2.5),
            floor_title="plain atomic writes, same files",
        ),
        Row("full_build_rate", "full build, pages/s", "pages/s", Target("figure", ">=", 10_000, "pages/s")),
        Row("full_build_rss", "full build, peak RSS (process tree)", "MB", Target("figure", "<=", 120, "MB")),
        Row(
            "full_build_es",
            f"full build, {n} customers, Spanish pages",
            "s",
            Target("ratio", "<=", 1.1),
            floor_title="the same build in English",
        ),
        Row(
            "noop_build",
            f"no-op build, {n} customers",
            "s",
            Target("excess", "<=", 0.05, "s"),
            floor_title="paylink --help",
        ),
        Row(
            "charge_scale",
            f"charge, {n} customers",
            "ms",
            Target("ratio", "<=", 1.1),
            floor_title=f"charge, {scale.small:,} customers",
        ),
        Row("charge_vs_python", f"charge, {n} customers", "ms", Target("ratio", "<=", 5), floor_title="python -c pass"),
        Row("post_refresh", "post + page rewrite, in-process", "ms", Target("figure", "<=", 3, "ms")),
        Row(
            "link_share",
            f"link share --json, {n} customers",
            "ms",
            Target("ratio", "<=", 5),
            floor_title="python -c pass",
        ),
        Row(
            "statement",
            f"statement --json, {scale.statement_entries:,} entries",
            "ms",
            Target("ratio", "<=", 3),
            floor_title="plain sqlite3 + json script",
        ),
        Row("token_verify", "token verification", "µs", Target("ratio", "<=", 2), floor_title="one HMAC-SHA256"),
        Row(
            "edge_rps",
            "paylink serve, live link, requests/s",
            "req/s",
            Target("ratio", ">=", 0.8),
            floor_title="granian ASGI (as serve), do-nothing handler",
        ),
        Row(
            "edge_vs_rsgi",
            "paylink serve, live link, requests/s",
            "req/s",
            Target("ratio", ">=", 0.8),
            floor_title="granian RSGI, do-nothing handler",
        ),
        Row(
            "edge_vs_nginx",
            "paylink serve, live link, requests/s",
            "req/s",
            Target("ratio", ">=", 0.4),
            floor_title="nginx, same file",
        ),
        Row("edge_p99", "paylink serve, live link, p99 latency", "ms", Target("figure", "<=", 20, "ms")),
        Row(
            "worker_rps",
            "Worker in workerd, live link, requests/s",
            "req/s",
            Target("ratio", ">=", 0.8),
            floor_title="workerd, constant response",
        ),
        Row(
            "publish_first",
            f"first publish, {scale.publish_pages:,} pages to moto",
            "s",
            Target("ratio", "<=", 1.3),
            floor_title="put_object loop, same files",
        ),
        Row(
            "publish_one_charge",
            "publish after one charge: objects sent",
            "objects",
            Target("figure", "==", 1, "object"),
        ),
        Row(
            "publish_one_charge_listings",
            "publish after one charge: bucket listings",
            "listings",
            Target("figure", "==", 0, "listings"),
        ),
        *(
            Row(
                row_id,
                f"full build, {scale.pay_customers:,} customers, {methods}",
                "s",
                Target("ratio", "<=", 1.2),
                floor_title="the same build without [[pay]]",
            )
            for row_id, methods, _, _ in PAY_SITES
        ),
        Row(
            "import_entries",
            f"import entries, {scale.import_rows:,} rows",
            "s",
            Target("figure", "<=", round(IMPORT_TARGET_S * scale.import_rows / 1_000_000, 2), "s"),
        ),
    ]
    return {row.id: row for row in rows}


class Bench:
    """One bench run: its scale, its temp folder, the paylink under test, its sites and its rows."""

    def __init__(self, scale: Scale, workdir: Path, paylink: Path, worker_dir: Path = REPO / "edge" / "worker"):
        self.scale = scale
        self.worker_dir = worker_dir
        self.workdir = workdir
        self.paylink = [str(paylink)]
        self.python = interpreter_of(paylink)
        self.rows = make_rows(scale)
        self.small: BenchSite | None = None
        self.large: BenchSite | None = None
        self.rng = random.Random(7)

    def site_cmd(self, site: BenchSite, *args: str) -> list[str]:
        return [*self.paylink, "--site", str(site.root), *args]

    # --- the measurements -----------------------------------------------------------

    def full_build(self) -> None:
        """`paylink build --full` of the large site into an empty build/p, against a plain Python
        loop writing the same files (same names, same sizes, same order) atomically into a fresh folder;
        and the same build with ``language = "es"`` (Spanish pages) beside the English one.

        Each round is a Spanish build, an English build, then a floor run, so
        that a slow spell of the file system hits all three (on this VM the
        kernel time to create a file varies several-fold from one minute to the
        next). What they wrote is removed only after the last run: deleting many
        files makes the next ones slower to create. The English build runs last
        in each round, so the site ends in English, built.
        """
        site, builds, floors, spanish, files = self.large, [], [], [], []
        spanish_lang, spanish_error = None, None
        try:
            for n in range(self.scale.build_runs):
                english_toml = set_settings(site.root, language="es")
                try:
                    if spanish_error is None:
                        spanish.append(self._build_once(site, f"es-{n}"))
                        spanish_lang = page_language(site)
                except Exception as exc:  # the English rows still count
                    spanish_error = f"{type(exc).__name__}: {exc}"
                finally:
                    (site.root / "paylink.toml").write_text(english_toml, encoding="utf-8")
                builds.append(self._build_once(site, f"en-{n}"))
                if not files:  # the floor writes the English build's files: names, sizes, order
                    files = snapshot_files(site)
                floors.append(self._floor_once(files, self.trash / f"floor-{n}"))
        finally:
            shutil.rmtree(self.trash, ignore_errors=True)
        build, floor = Summary([r.seconds for r in builds]), Summary([f.seconds for f in floors])
        self.rows["full_build_time"].fill(
            build.median,
            floor.median,
            build=build.as_dict(),
            build_cpu_s=cpu_dict(builds),
            floor=floor.as_dict(),
            floor_cpu_s=cpu_dict(floors),
            pages=len(files),
            mean_page_bytes=round(sum(size for _, size in files) / len(files)),
        )
        self.rows["full_build_rate"].fill(site.pages / build.median, best=round(site.pages / build.min))
        self.rows["full_build_rss"].fill(
            max(r.peak_rss_mb for r in builds + spanish),
            sampled_tree_peak_mb=round(max(r.peak_tree_rss_mb for r in builds + spanish), 1),
            largest_process_hwm_mb=round(max(r.peak_process_hwm_mb for r in builds + spanish), 1),
        )
        row = self.rows["full_build_es"]
        if spanish_error:
            row.fail(spanish_error)
            return
        es = Summary([r.seconds for r in spanish])
        row.fill(es.median, build.median, spanish=es.as_dict(), spanish_cpu_s=cpu_dict(spanish), html_lang=spanish_lang)
        if not (spanish_lang or "").startswith("es"):  # "es" or "es-US": Spanish words, money as written there
            row.fail(f'with language = "es" the pages say <html lang="{spanish_lang}">: no Spanish pages yet')

    @property
    def trash(self) -> Path:
        """Where measured runs' output waits to be removed."""
        return self.workdir / "trash"

    def _build_once(self, site: BenchSite, name: str) -> Run:
        """One measured `paylink build --full` that must write every page."""
        self._empty_pages(site, f"pages-{name}")
        run = run_timed(self.site_cmd(site, "build", "--full", "--json"), track_memory=True)
        written = run.json()["written"]
        if written != site.pages:
            raise RuntimeError(f"build wrote {written} pages, expected {site.pages}")
        return run

    def _empty_pages(self, site: BenchSite, trash_name: str) -> None:
        """Move build/p aside (untimed) so the next build writes every page afresh."""
        pages = site.build_dir / "p"
        if pages.exists():
            self.trash.mkdir(exist_ok=True)
            pages.rename(self.trash / trash_name)
        os.sync()  # so no measurement pays for flushing another one's writes

    @staticmethod
    def _floor_once(files: list[tuple[str, int]], folder: Path) -> Run:
        """One floor run (in this process) into a fresh folder: its wall and CPU time."""
        folder.parent.mkdir(exist_ok=True)
        os.sync()
        before = os.times()
        seconds = write_files_atomically(folder, files)
        after = os.times()
        return Run(seconds, 0, "", "", user_s=after.user - before.user, sys_s=after.system - before.system)

    def noop_build(self) -> None:
        """A `paylink build` with nothing to do, against `paylink --help` (hyperfine, no shell)."""
        doc = run_timed(self.site_cmd(self.large, "build", "--json")).json()
        times = hyperfine(
            {"noop": self.site_cmd(self.large, "build", "--json"), "help": [*self.paylink, "--help"]},
            runs=self.scale.cli_runs,
            warmup=3,
            export=self.workdir / "hyperfine-noop.json",
        )
        self.rows["noop_build"].fill(
            times["noop"].median,
            times["help"].median,
            noop=times["noop"].as_dict(),
            help=times["help"].as_dict(),
            first_noop_wrote=doc["written"],
        )

    def charge(self) -> None:
        """`paylink charge --json` to a random customer of the large site, of the small one, and
        `python -c pass`, timed round-robin so drift hits all three alike."""
        for site in (self.small, self.large):
            doc = run_timed(self._charge_argv(site)).json()
            if "entry_id" not in doc:
                raise RuntimeError(f"charge printed no entry_id: {doc}")
        times = time_interleaved(
            {
                "large": lambda: self._charge_argv(self.large),
                "small": lambda: self._charge_argv(self.small),
                "python": lambda: [self.python, "-c", "pass"],
            },
            runs=self.scale.cli_runs,
            warmup=3,
        )
        ms = {name: s.as_dict(scale=1000, digits=2) for name, s in times.items()}
        self.rows["charge_scale"].fill(
            times["large"].median * 1000, times["small"].median * 1000, large=ms["large"], small=ms["small"]
        )
        self.rows["charge_vs_python"].fill(
            times["large"].median * 1000, times["python"].median * 1000, python=ms["python"], interpreter=self.python
        )

    def _charge_argv(self, site: BenchSite) -> list[str]:
        customer = self.rng.randrange(1, site.customers + 1)
        amount = f"{self.rng.randrange(1, 900)}.{self.rng.randrange(100):02d}"
        return self.site_cmd(site, "charge", str(customer), amount, "Bench call-out", "--json")

    def post_refresh(self) -> None:
        """In one process: ``actions.post_entry`` (the posting and its page rewrite, as every
        front end calls it) on the large site.

        The figure reuses one Workspace, as a long-running writer would; the
        detail ``fresh_workspace`` opens a new one per post (settings read and
        templates compiled again each time), as a one-shot command does.
        """
        from paylink.actions import Workspace
        from paylink.site import Site

        site = Site(self.large.root)
        with Workspace(site) as ws:
            self._posts(lambda: ws, 20)  # warm-up
            total = self._posts(lambda: ws, self.scale.posts)
        fresh_workspaces: list = []

        def fresh():
            if fresh_workspaces:
                fresh_workspaces.pop().close()
            fresh_workspaces.append(Workspace(Site(self.large.root)))
            return fresh_workspaces[-1]

        fresh_total = self._posts(fresh, 30)
        for ws in fresh_workspaces:
            ws.close()
        self.rows["post_refresh"].fill(
            total.median * 1000,
            total=total.as_dict(1000, 3),
            fresh_workspace=fresh_total.as_dict(1000, 3),
        )

    def _posts(self, workspace, count: int) -> Summary:
        """Post ``count`` charges to random customers through the action (page included); return their timings."""
        from paylink import actions

        total = Summary()
        for _ in range(count):
            customer = str(self.rng.randrange(1, self.large.customers + 1))
            ws = workspace()
            before = ws.conn.execute("SELECT COUNT(*) FROM pending_pages").fetchone()[0]
            started = time.perf_counter()
            actions.post_entry(ws, customer, self.rng.randrange(100, 90000), "Bench call-out")
            done = time.perf_counter()
            left = ws.conn.execute("SELECT COUNT(*) FROM pending_pages").fetchone()[0]
            if left > before:
                raise RuntimeError(f"the post left {left} pending pages, expected {before}")
            total.samples.append(done - started)
        return total

    def link_share(self) -> None:
        """`paylink link share CUSTOMER --json` for a random linked customer of the large site, against
        `python -c pass`, timed round-robin."""
        doc = run_timed(self._share_argv()).json()
        missing = {"customer_id", "url", "sms", "sms_uri", "email_subject", "email_body", "mailto_uri"} - set(doc)
        if missing:
            raise RuntimeError(f"link share --json printed no {sorted(missing)}")
        times = time_interleaved(
            {"share": self._share_argv, "python": lambda: [self.python, "-c", "pass"]},
            runs=self.scale.cli_runs,
            warmup=3,
        )
        self.rows["link_share"].fill(
            times["share"].median * 1000,
            times["python"].median * 1000,
            share=times["share"].as_dict(1000, 2),
            python=times["python"].as_dict(1000, 2),
        )

    def _share_argv(self) -> list[str]:
        return self.site_cmd(
            self.large, "link", "share", str(self.rng.randrange(1, self.large.customers + 1)), "--json"
        )

    def statement(self) -> None:
        """`paylink statement C-HEAVY --json` (10,000 entries) against a plain script that reads the
        same entries with sqlite3 and prints the same JSON document (bench/statement_floor.py),
        both on the same interpreter, timed round-robin with `python -c pass`."""
        site = self.large
        command = self.site_cmd(site, "statement", "C-HEAVY", "--json")
        floor = [self.python, str(BENCH_DIR / "statement_floor.py"), str(site.db_path), str(site.heavy)]
        ours, plain = run_timed(command).json(), run_timed(floor).json()
        wanted = self.scale.statement_entries
        if len(ours.get("entries", [])) != wanted or len(plain["entries"]) != wanted:
            raise RuntimeError(
                f"statement printed {len(ours.get('entries', []))} entries, the floor {len(plain['entries'])};"
                f" expected {wanted}"
            )
        if ours.get("closing_balance_minor") != plain["closing_balance_minor"]:
            raise RuntimeError(
                f"closing balances differ: {ours.get('closing_balance_minor')} vs {plain['closing_balance_minor']}"
            )
        times = time_interleaved(
            {"statement": lambda: command, "floor": lambda: floor, "python": lambda: [self.python, "-c", "pass"]},
            runs=self.scale.cli_runs,
            warmup=2,
        )
        ms = {name: summary.as_dict(1000, 2) for name, summary in times.items()}
        self.rows["statement"].fill(
            times["statement"].median * 1000,
            times["floor"].median * 1000,
            statement=ms["statement"],
            floor=ms["floor"],
            python=ms["python"],
            output_kb=round(len(json.dumps(ours)) / 1024),
        )

    def token_verify(self) -> None:
        """LinkSigner(keys).verify over 1,000 valid tokens, against one HMAC-SHA256 of each token (timeit)."""
        keys = tokens.load_keys(self.large.root / "paylink.key")
        signer = tokens.LinkSigner(keys)
        valid = [signer.sign(tokens.new_link_id()) for _ in range(1000)]
        if not all(signer.verify(t) for t in valid):
            raise RuntimeError("a freshly signed token did not verify")
        key, raw = keys[-1].encode(), [t.encode() for t in valid]

        def verify_all():
            for token in valid:
                signer.verify(token)

        def hmac_all():
            for token in raw:
                hmac.new(key, token, hashlib.sha256).digest()

        def per_token_us(func) -> Summary:
            number = 20
            return Summary([t / (number * len(valid)) * 1e6 for t in timeit.repeat(func, number=number, repeat=7)])

        verify, floor = per_token_us(verify_all), per_token_us(hmac_all)
        forged = [t[:-2] + ("AA" if t[-2:] != "AA" else "BA") for t in valid]
        forged_us = (
            min(timeit.repeat(lambda: [signer.verify(t) for t in forged], number=5, repeat=5)) / (5 * 1000) * 1e6
        )
        self.rows["token_verify"].fill(
            verify.median,
            floor.median,
            verify_us=verify.as_dict(digits=3),
            hmac_us=floor.as_dict(digits=3),
            forged_token_best_us=round(forged_us, 3),
        )

    def edge(self) -> None:
        """`wrk -t2 -c50 --latency` on a live link through `paylink serve`, against granian (same interface,
        same workers) running a handler that does nothing but answer with the same headers and a body of the
        same size, and against nginx serving the snapshot as a static file. All three run side by side and
        the wrk runs alternate between them, so that the machine's slow and fast spells hit all alike;
        figures are medians over rounds."""
        token, snapshot = self.large.live_link(self.large.customers // 2)
        rps, nginx_rps, p99 = self.rows["edge_rps"], self.rows["edge_vs_nginx"], self.rows["edge_p99"]
        rsgi_rps = self.rows["edge_vs_rsgi"]
        urls = {}
        with contextlib.ExitStack() as servers:
            base = servers.enter_context(
                http_load.paylink_edge(self.paylink, self.large.root, self.workdir / "edge.log", f"/p/{token}")
            )
            urls["edge"] = f"{base}/p/{token}"
            headers, body = http_load.answer_of(urls["edge"])
            try:  # the edge's own figures still count without a peer
                base = servers.enter_context(
                    http_load.granian_noop(
                        self.python, headers, len(body), self.workdir / "granian-noop.log", workers=edge_workers()
                    )
                )
                urls["granian_noop"] = f"{base}/p/{token}"
            except Exception as exc:
                rps.fail(f"granian with the do-nothing handler did not start: {exc}")
            try:  # the peer the issue first measured; RSGI has no raw path, so paylink serve cannot use it
                base = servers.enter_context(
                    http_load.granian_noop(
                        self.python,
                        headers,
                        len(body),
                        self.workdir / "granian-noop-rsgi.log",
                        workers=edge_workers(),
                        interface="rsgi",
                    )
                )
                urls["granian_noop_rsgi"] = f"{base}/p/{token}"
            except Exception as exc:
                rsgi_rps.fail(f"granian (RSGI) with the do-nothing handler did not start: {exc}")
            try:
                base = servers.enter_context(
                    http_load.nginx(self.workdir / "nginx", self.large.build_dir, f"/p/{snapshot}")
                )
                urls["nginx"] = f"{base}/p/{snapshot}"
            except Exception as exc:
                nginx_rps.fail(f"nginx did not start: {exc}")
            loads = self._alternating_loads(urls)
        rounds = self._rounds(loads)
        edge_rps = statistics.median(rounds["edge_rps"])
        for row, peer in ((rps, "granian_noop"), (rsgi_rps, "granian_noop_rsgi"), (nginx_rps, "nginx")):
            if peer in loads:
                row.fill(edge_rps, statistics.median(rounds[f"{peer}_rps"]), **rounds)
            elif not row.error:
                row.fail(f"{peer} did not run")
        p99.fill(
            statistics.median(rounds["edge_p99_ms"]),
            p50_ms=statistics.median(load.p50_ms for load in loads["edge"]),
            response_bytes=len(body),
            **{
                f"{peer}_p99_ms": statistics.median(rounds[f"{peer}_p99_ms"])
                for peer in ("granian_noop", "granian_noop_rsgi", "nginx")
                if peer in loads
            },
        )

    def worker(self) -> None:
        """The Worker of edge/worker/ in workerd (Miniflare, from edge/worker/node_modules) answering a live
        link from its R2 bucket, against workerd running a Worker that answers a constant response with the
        same headers and body size; wrk alternates between them.

        The bucket holds what `paylink publish` would upload for that link: the
        snapshot and every file of build/ outside p/ (assets, 404, 410, robots),
        under an empty PREFIX.
        """
        row = self.rows["worker_rps"]
        why_not = worker_missing(self.worker_dir)
        if why_not:
            row.skip(why_not)
            return
        token, snapshot = self.large.live_link(self.large.customers // 2)
        build = self.large.build_dir
        names = [name for name in s3.build_files(build) if not name.startswith(f"{layout.SNAPSHOT_DIR}/")]
        names.append(f"{layout.SNAPSHOT_DIR}/{snapshot}")
        keys = tokens.load_keys(self.large.root / "paylink.key")
        worker = {
            "mode": "worker",
            "worker_dir": str(self.worker_dir),
            "bindings": {"PREFIX": "", "PAYLINK_SECRET_KEY": "\n".join(keys)},
            "files": [
                {
                    "key": name,
                    "path": str(build / name),
                    "contentType": layout.content_type(name),
                    "cacheControl": layout.cache_control(name),
                }
                for name in names
            ],
        }
        folder = self.workdir / "workerd"
        urls = {}
        with contextlib.ExitStack() as servers:
            base = servers.enter_context(http_load.workerd(worker, folder, "worker", f"/p/{token}"))
            urls["worker"] = f"{base}/p/{token}"
            headers, body = http_load.answer_of(urls["worker"])
            constant = {
                "mode": "constant",
                "worker_dir": str(self.worker_dir),
                "headers": [(k, v) for k, v in headers if k.lower() not in ("content-length", "transfer-encoding")],
                "body_bytes": len(body),
            }
            base = servers.enter_context(http_load.workerd(constant, folder, "constant"))
            urls["constant"] = f"{base}/p/{token}"
            loads = self._alternating_loads(urls)
        rounds = self._rounds(loads)
        row.fill(
            statistics.median(rounds["worker_rps"]),
            statistics.median(rounds["constant_rps"]),
            worker_p99_ms=statistics.median(rounds["worker_p99_ms"]),
            constant_p99_ms=statistics.median(rounds["constant_p99_ms"]),
            response_bytes=len(body),
            **{k: v for k, v in rounds.items() if k.endswith(("_rps", "_socket_errors"))},
        )

    @staticmethod
    def _rounds(loads: dict[str, list[http_load.Load]]) -> dict[str, list]:
        rounds = {}
        for name, runs in loads.items():
            rounds[f"{name}_rps"] = [round(load.requests_per_s) for load in runs]
            rounds[f"{name}_p99_ms"] = [load.p99_ms for load in runs]
            if any(load.socket_errors for load in runs):
                rounds[f"{name}_socket_errors"] = [load.socket_errors for load in runs]
        return rounds

    def _alternating_loads(self, urls: dict[str, str]) -> dict[str, list[http_load.Load]]:
        """A short warm-up of each URL, then ``edge_rounds`` rounds of one wrk run per URL."""
        for url in urls.values():
            http_load.wrk(url, seconds=max(1, self.scale.wrk_seconds // 3))
        loads = {name: [] for name in urls}
        for _ in range(self.scale.edge_rounds):
            for name, url in urls.items():
                load = http_load.wrk(url, seconds=self.scale.wrk_seconds)
                # Every answer must be a 200; a few timeouts under load (wrk gives up after 2 s) only
                # count against the figure, up to 1% of the requests.
                if load.bad_status or load.socket_errors > load.requests / 100:
                    raise RuntimeError(
                        f"{name}: {load.bad_status} non-2xx answers and {load.socket_errors} socket errors"
                        f" in {load.requests} requests under load"
                    )
                loads[name].append(load)
        return loads

    def publish(self) -> None:
        """`paylink publish` of a site of ``publish_pages`` pages to moto's S3 server, against a plain loop
        of boto3 put_object calls uploading the same files (bench/s3.py); then one charge and a publish,
        counting the requests that reached the store.

        Every timed run starts from an empty bucket (moto reset) and, for
        publish, from the ledger as it was before any publish (paylink.db
        restored from a copy), so each is a first publish. Rounds alternate:
        the put_object loop, then publish.
        """
        site = make_site(self.paylink, self.workdir / "publish", self.scale.publish_pages, seed=3)
        run_timed(self.site_cmd(site, "build", "--json")).check()
        pristine = self.workdir / "publish-pristine.db"
        copy_database(site.db_path, pristine)
        files = s3.build_files(site.build_dir)
        env = s3.s3_env()
        publishes, floors = [], []
        with s3.moto_server(self.python, self.workdir / "moto") as moto:
            set_settings(site.root, publish=f"s3://{BUCKET}/{PUBLISH_PREFIX}", publish_endpoint=moto.endpoint)
            floor_argv = [
                self.python,
                str(BENCH_DIR / "s3.py"),
                moto.endpoint,
                BUCKET,
                PUBLISH_PREFIX,
                str(site.build_dir),
            ]
            for _ in range(self.scale.publish_rounds):
                moto.empty_bucket(BUCKET)
                floors.append(run_timed(floor_argv, env=env))
                sent = floors[-1].json()["uploaded"]
                if sent != len(files) or moto.object_count(BUCKET, PUBLISH_PREFIX) != len(files):
                    raise RuntimeError(f"the put_object loop uploaded {sent} files, expected {len(files)}")
                moto.empty_bucket(BUCKET)
                copy_database(pristine, site.db_path)
                publishes.append(run_timed(self.site_cmd(site, "publish", "--json"), env=env))
                doc = publishes[-1].json()
                stored = moto.object_count(BUCKET, PUBLISH_PREFIX)
                if doc.get("uploaded") != len(files) or stored != len(files):
                    raise RuntimeError(
                        f"publish reported {doc}, the bucket holds {stored} objects; expected {len(files)} uploaded"
                    )
            publish, floor = Summary([r.seconds for r in publishes]), Summary([r.seconds for r in floors])
            self.rows["publish_first"].fill(
                publish.median,
                floor.median,
                publish=publish.as_dict(),
                publish_cpu_s=cpu_dict(publishes),
                put_object_loop=floor.as_dict(),
                put_object_loop_cpu_s=cpu_dict(floors),
                files=len(files),
                mb=round(sum((site.build_dir / name).stat().st_size for name in files) / 2**20, 1),
            )
            self._publish_one_charge(site, moto, env)

    def _publish_one_charge(self, site: BenchSite, moto: s3.Moto, env: dict[str, str]) -> None:
        """One `paylink charge` on the published site (which sends its page itself, CONTRACT §7), then
        `paylink publish --json`, which must find nothing to upload; moto's recorder counts what both sent."""
        objects, listings = self.rows["publish_one_charge"], self.rows["publish_one_charge_listings"]
        customer = self.rng.randrange(1, site.customers + 1)
        moto.start_recording()
        try:
            charge = run_timed(
                self.site_cmd(site, "charge", str(customer), "12.34", "Bench call-out", "--json"), env=env
            )
            publish = run_timed(self.site_cmd(site, "publish", "--json"), env=env)
        finally:
            requests = moto.stop_recording()
        charge.json()
        doc = publish.json()
        counts = s3.classify(requests, BUCKET)
        details = {
            "charge_ms": round(charge.seconds * 1000, 1),
            "publish_ms": round(publish.seconds * 1000, 1),
            "publish_result": doc,
            "requests": counts,
        }
        objects.fill(counts["put_object"], **details)
        listings.fill(counts["list"])
        if doc.get("uploaded") != 0:
            objects.fail(f"publish after the charge uploaded {doc.get('uploaded')}: the charge did not send its page")

    def pay_build(self) -> None:
        """`paylink build --full` of a site with two ``[[pay]]`` methods beside the same build of the same
        site without them (CONTRACT §8: at most 1.2×), for PayPal + Venmo (links) and SEPA + PayPal
        (four QR codes a page).

        The bench's data (a fresh site of ``pay_customers``, USD or EUR) is copied, and the copy gets the
        methods, so both keep their own page cache. One untimed build of each fills the caches (the first
        build with methods draws every QR code: its time is in the details as ``first_build_s``); then
        rounds alternate a build without and one with the methods, each writing every page afresh.
        """
        for row_id, _, currency, tables in PAY_SITES:
            row = self.rows[row_id]
            try:
                plain = make_site(
                    self.paylink, self.workdir / f"{row_id}-none", self.scale.pay_customers, currency=currency
                )
                shutil.copytree(plain.root, self.workdir / f"{row_id}-pay", symlinks=True)
                paid = BenchSite(self.workdir / f"{row_id}-pay", plain.customers)
                with open(paid.root / "paylink.toml", "a", encoding="utf-8") as toml:
                    toml.write("\n" + tables)
                self._build_once(plain, f"{row_id}-none-first")
                first = self._build_once(paid, f"{row_id}-pay-first")
                with_pay, without = [], []
                for n in range(self.scale.build_runs):
                    without.append(self._build_once(plain, f"{row_id}-none-{n}"))
                    with_pay.append(self._build_once(paid, f"{row_id}-pay-{n}"))
                shown = [(paid.build_dir / "p" / name).read_bytes() for name, _ in snapshot_files(paid)[:50]]
                if not any(b'id="pay-options"' in page for page in shown):
                    raise RuntimeError("the pages built with [[pay]] methods show no pay options")
            except Exception as exc:  # the other row still counts
                row.fail(f"{type(exc).__name__}: {exc}")
                continue
            finally:
                shutil.rmtree(self.trash, ignore_errors=True)
            pay, none = Summary([r.seconds for r in with_pay]), Summary([r.seconds for r in without])
            row.fill(
                pay.median,
                none.median,
                with_pay=pay.as_dict(),
                with_pay_cpu_s=cpu_dict(with_pay),
                without=none.as_dict(),
                without_cpu_s=cpu_dict(without),
                first_build_s=round(first.seconds, 2),
                first_build_cpu_s=cpu_dict([first]),
                pages=paid.pages,
            )

    def import_entries(self) -> None:
        """`paylink import entries` of a CSV spread over every customer of the large site (by id and by ref).

        First, in this process, the rows part alone (``imports.import_entries``:
        parse, check, insert, pages marked) in a transaction that is rolled
        back, so the detail ``rows_s`` splits the figure into rows and the rest
        (the page rewrite, the commit).
        """
        from paylink import imports
        from paylink.actions import Workspace
        from paylink.site import Site

        rows = self.scale.import_rows
        csv_path = self.workdir / "entries.csv"
        write_entries_csv(csv_path, rows, self.large.customers)
        before = self.large.count("entries")
        os.sync()
        with Workspace(Site(self.large.root)) as ws:
            s = ws.settings
            ws.conn.execute("BEGIN IMMEDIATE")
            try:
                started, cpu = time.perf_counter(), time.process_time()
                rows_only = imports.import_entries(
                    ws.conn, csv_path, currency=s.currency, timezone=s.timezone, locale=s.locale
                )
                rows_s, rows_cpu_s = time.perf_counter() - started, time.process_time() - cpu
            finally:
                ws.conn.execute("ROLLBACK")
        if rows_only.count != rows:
            raise RuntimeError(f"the rows part imported {rows_only.count}, expected {rows}")
        run = run_timed(self.site_cmd(self.large, "import", "entries", str(csv_path), "--json"), track_memory=True)
        imported = run.json()["imported"]
        added = self.large.count("entries") - before
        if imported != rows or added != rows:
            raise RuntimeError(f"imported {imported}, entries rose by {added}, expected {rows}")
        self.rows["import_entries"].fill(
            run.seconds,
            rows=rows,
            csv_mb=round(csv_path.stat().st_size / 2**20, 1),
            peak_rss_mb=round(run.peak_rss_mb, 1),
            rows_s=round(rows_s, 2),
            rows_cpu_s=round(rows_cpu_s, 2),
            pages_and_commit_s=round(run.seconds - rows_s, 2),
            cpu_s=cpu_dict([run]),
            runs=1,
        )

    def profile_build(self) -> Path:
        """Run the large site's full build once more under pyinstrument; return the text report's path.

        Only the main process is profiled; a helper process the build starts is not.
        """
        self._empty_pages(self.large, "pages-profile")
        report = self.workdir / "profile-build.txt"
        run_timed(
            [
                self.python,
                "-m",
                "pyinstrument",
                "--no-color",
                "-r",
                "text",
                "-o",
                str(report),
                *self.paylink,
                "--site",
                str(self.large.root),
                "build",
                "--full",
                "--json",
            ]
        ).check()
        return report


# Which measurements there are, in the order they run, and the rows each fills.
MEASUREMENTS = {
    "build": (Bench.full_build, ["full_build_time", "full_build_rate", "full_build_rss", "full_build_es"]),
    "noop": (Bench.noop_build, ["noop_build"]),
    "charge": (Bench.charge, ["charge_scale", "charge_vs_python"]),
    "post": (Bench.post_refresh, ["post_refresh"]),
    "share": (Bench.link_share, ["link_share"]),
    "statement": (Bench.statement, ["statement"]),
    "token": (Bench.token_verify, ["token_verify"]),
    "edge": (Bench.edge, ["edge_rps", "edge_vs_rsgi", "edge_vs_nginx", "edge_p99"]),
    "worker": (Bench.worker, ["worker_rps"]),
    "publish": (Bench.publish, ["publish_first", "publish_one_charge", "publish_one_charge_listings"]),
    "import": (Bench.import_entries, ["import_entries"]),
    "pay": (Bench.pay_build, [row_id for row_id, *_ in PAY_SITES]),
}
# The measurements that use the large site (publish and pay make their own).
USE_LARGE_SITE = set(MEASUREMENTS) - {"publish", "pay"}


def edge_workers() -> int:
    """The worker processes `paylink serve` runs (one per CPU, at most 8): its peer runs as many."""
    return min(os.cpu_count() or 1, 8)


def worker_missing(worker_dir: Path) -> str | None:
    """Why the Worker cannot be run here (no edge/worker/, its main module, node or Miniflare), or None."""
    if not worker_dir.is_dir():
        return f"no Worker: {worker_dir} does not exist"
    if shutil.which("node") is None:
        return "no `node` on PATH to run Miniflare"
    if not (worker_dir / "node_modules" / "miniflare").is_dir():
        return f"no {worker_dir}/node_modules/miniflare: run `npm ci` in {worker_dir}"
    mains = [worker_dir / "src" / "index.js", worker_dir / "wrangler.toml", worker_dir / "wrangler.json"]
    if not any(path.exists() for path in mains):
        return f"no Worker code in {worker_dir} (neither src/index.js nor wrangler.toml)"
    return None


def copy_database(source: Path, target: Path) -> None:
    """Copy a closed SQLite database over another (its -wal and -shm files removed first): untimed setup."""
    for suffix in ("-wal", "-shm"):
        target.with_name(target.name + suffix).unlink(missing_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    dst.close()
    src.close()


def cpu_dict(runs: list[Run]) -> dict:
    """Median user and system CPU seconds of some runs (their own and their children's)."""
    return {
        "user": round(statistics.median(r.user_s for r in runs), 2),
        "sys": round(statistics.median(r.sys_s for r in runs), 2),
    }


def write_files_atomically(folder: Path, files: list[tuple[str, int]]) -> float:
    """The floor: a plain loop writing each (name, size) file atomically, a temp file in the same
    folder then os.replace, into a fresh folder; return the seconds it took.

    The temp file is opened with O_CREAT | O_EXCL under a name unique to the run
    (what the build does too) rather than with tempfile.mkstemp, whose random
    names cost more: a floor is the cheapest honest way to do the same work.
    """
    os.mkdir(folder)
    where = str(folder)
    filler = (b"<tr><td>Mar 4, 2026</td><td>Lawn mowing</td><td>$45.00</td></tr>\n" * 200)[: max(s for _, s in files)]
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    started = time.perf_counter()
    for n, (name, size) in enumerate(files, 1):
        temp = os.path.join(where, f".tmp-{n}")
        with open(os.open(temp, flags, 0o644), "wb") as out:
            out.write(filler[:size])
        os.replace(temp, os.path.join(where, name))
    return time.perf_counter() - started


def page_language(site: BenchSite) -> str | None:
    """The ``<html lang>`` of one page of the site's build/p (the first by name), or None."""
    with os.scandir(site.build_dir / layout.SNAPSHOT_DIR) as pages:
        first = min((entry.name for entry in pages if entry.name.endswith(".html")), default=None)
    if first is None:
        return None
    head = (site.build_dir / layout.SNAPSHOT_DIR / first).read_text(encoding="utf-8")[:2000]
    match = re.search(r'<html[^>]*\blang="([^"]*)"', head)
    return match[1] if match else None


def snapshot_files(site: BenchSite) -> list[tuple[str, int]]:
    """(file name, size) of every live link's snapshot, in customer-id order, as the build writes them."""
    with sqlite3.connect(site.db_path) as conn:
        names = [r[0] for r in conn.execute("SELECT snapshot FROM links WHERE retired_at IS NULL ORDER BY customer_id")]
    pages = site.build_dir / "p"
    return [(name, os.stat(pages / name).st_size) for name in names]


def find_paylink() -> Path:
    """The `paylink` console script itself (beside this interpreter if there, else on PATH), not a
    version manager's shim, whose own start-up would be timed with every command."""
    beside = Path(sys.executable).parent / "paylink"
    found = beside if beside.exists() else shutil.which("paylink")
    if not found:
        sys.exit("Error: `paylink` is not installed — run bench/run, which installs it")
    return Path(found)


def interpreter_of(script: Path) -> str:
    """The Python a console script runs (its #! line), for `python -c pass` with the same interpreter."""
    first = script.read_bytes()[:300].split(b"\n", 1)[0]
    if first.startswith(b"#!") and b"python" in first:
        return first[2:].decode().strip().split()[0]
    return sys.executable


def machine_facts(paylink: Path, python: str) -> dict:
    """What this run ran on, and which paylink it measured."""

    def output(argv: list[str], stream: str = "stdout") -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd="/")
            return (getattr(done, stream) or done.stdout or done.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "?",
    )
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    commit = output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = output(["git", "-C", str(REPO), "status", "--porcelain", "--", "generator", "edge", "site_templates"])
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_kb / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "interpreter": python,
        "sqlite": sqlite3.sqlite_version,
        "paylink": str(paylink),
        "paylink_code": output([python, "-c", "import paylink; print(paylink.__file__)"]),
        "git": commit + (" (generator/edge/templates modified)" if dirty not in ("", "?") else ""),
        "nginx": output(["nginx", "-v"], "stderr"),
        "wrk": output(["wrk", "-v"]).split(" [")[0],
        "hyperfine": output(["hyperfine", "--version"]),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1,000 and 10,000 customers, 100,000 imported rows, 1,000 pages published, 3 s of wrk",
    )
    parser.add_argument(
        "--only",
        metavar="NAMES",
        default=",".join(MEASUREMENTS),
        help=f"comma-separated measurements to run (default all: {','.join(MEASUREMENTS)})",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="where to make the run's temp folder (default /tmp)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (sites, logs) afterwards")
    parser.add_argument(
        "--worker-dir",
        type=Path,
        default=REPO / "edge" / "worker",
        help="the Cloudflare Worker to run in workerd (default edge/worker/, with its node_modules)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile one more full build with pyinstrument and print the report (kept)",
    )
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in args.only if name not in MEASUREMENTS]
    if unknown:
        parser.error(f"unknown measurement {unknown[0]!r}; choose from {','.join(MEASUREMENTS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the bench; exit status 0 whenever it ran (whatever the figures), 1 if its sites could not be made."""
    args = parse_args(argv)
    scale = QUICK if args.quick else FULL
    paylink = find_paylink()
    args.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="paylink-bench-", dir=args.workdir))
    bench = Bench(scale, workdir, paylink, args.worker_dir.absolute())
    started = time.perf_counter()
    facts = machine_facts(paylink, bench.python)
    print(f"paylink bench ({scale.name})")
    for key, value in facts.items():
        print(f"  {key:<12} {value}")
    if args.quick:
        print(
            f"quick mode: {QUICK.small:,} and {QUICK.large:,} customers, {QUICK.import_rows:,} imported rows"
            f" (import target scaled to {IMPORT_TARGET_S * QUICK.import_rows / 1_000_000:g} s),"
            f" {QUICK.publish_pages:,} pages published, {QUICK.wrk_seconds} s of wrk; figures are indicative only"
        )
    print(f"workdir {workdir}", flush=True)
    rows = [bench.rows[row_id] for name in args.only for row_id in MEASUREMENTS[name][1]]
    setup: dict = {}
    try:
        setup = prepare_sites(bench, args.only)
        for name in args.only:
            run_measurement(bench, name)
        if args.profile:
            report = bench.profile_build()
            print(f"\npyinstrument profile of one full build ({report}):")
            print("\n".join(report.read_text().splitlines()[:80]))
    except Exception as exc:  # the sites could not be made: nothing can be measured
        traceback.print_exc(file=sys.stderr)
        for row in rows:
            if row.figure is None and not row.error:
                row.fail(f"setup failed: {type(exc).__name__}: {exc}")
    finally:
        if not (args.keep or args.profile):
            shutil.rmtree(workdir, ignore_errors=True)
    total = time.perf_counter() - started
    print()
    print(table(rows))
    print(f"\nbench took {total:.0f} s (making the sites {setup.get('seconds', 0):.0f} s)")
    print(
        json_line(
            rows,
            mode=scale.name,
            machine=facts,
            sizes={
                "small": scale.small,
                "large": scale.large,
                "entries_per_customer": ENTRIES_PER_CUSTOMER,
                "import_rows": scale.import_rows,
            },
            setup=setup,
            seconds=round(total, 1),
        )
    )
    return 0 if setup else 1


def run_measurement(bench: Bench, name: str) -> None:
    """Run one measurement; if it fails, print why and mark its unfilled rows ERROR."""
    measure, row_ids = MEASUREMENTS[name]
    print(f"… {name}", flush=True)
    os.sync()  # the last measurement's writes (a 100,000-page build leaves ~1 GB) go to disk before this one
    started = time.perf_counter()
    try:
        measure(bench)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        for row_id in row_ids:
            row = bench.rows[row_id]
            if row.figure is None and not row.error:
                row.fail(f"{type(exc).__name__}: {exc}")
    print(f"  {name} took {time.perf_counter() - started:.1f} s", flush=True)


def prepare_sites(bench: Bench, only: list[str]) -> dict:
    """Create the sites the chosen measurements need; build them unless the full build is measured."""
    started = time.perf_counter()
    setup: dict = {}
    if "charge" in only:
        bench.small = make_site(bench.paylink, bench.workdir / "small", bench.scale.small)
        run_timed(bench.site_cmd(bench.small, "build", "--json")).check()
    if USE_LARGE_SITE & set(only):
        made = time.perf_counter()
        bench.large = make_site(
            bench.paylink, bench.workdir / "large", bench.scale.large, heavy_entries=bench.scale.statement_entries
        )
        setup["large_site_s"] = round(time.perf_counter() - made, 1)
        print(
            f"  made {bench.scale.large:,} customers × {ENTRIES_PER_CUSTOMER} entries"
            f" (and one with {bench.scale.statement_entries:,}) in {setup['large_site_s']} s",
            flush=True,
        )
        if "build" not in only:
            run_timed(bench.site_cmd(bench.large, "build", "--json")).check()
    setup["seconds"] = round(time.perf_counter() - started, 1)
    return setup


if __name__ == "__main__":
    sys.exit(main())
