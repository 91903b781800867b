"""HTTP load: wrk against a server on 127.0.0.1, and the two servers compared.

Both servers run on this machine only, each on a free loopback port, and are
stopped by the bench itself: `paylink serve` answering a live link; its peers,
granian running a handler that does nothing (bench/noop_rsgi.py, through ASGI as
`paylink serve` runs the edge, and through RSGI for reference) and nginx serving
the link's snapshot as a plain static file; and the Worker of
edge/worker/ in workerd (through Miniflare, bench/workerd_serve.mjs) beside
workerd answering a constant response. Every wrk run is bounded in time.
"""

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

NGINX = "/usr/sbin/nginx"
BENCH_DIR = Path(__file__).resolve().parent
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
_NOT_REPEATED = {"date", "server", "connection", "keep-alive", "transfer-encoding", "upgrade"}
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class Load:
    """What one wrk run measured."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    socket_errors: int  # connect, read, write errors and timeouts
    bad_status: int  # non-2xx/3xx answers


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wrk(url: str, *, seconds: int, threads: int = 2, connections: int = 50) -> Load:
    """Run ``wrk --latency`` against ``url`` and parse its report."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True)
    return parse_wrk(done.stdout)


def parse_wrk(report: str) -> Load:
    """Parse Requests/sec, the 50% and 99% latency lines and the error counts of a wrk report."""

    def latency(percent: str) -> float:
        match = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s)\s*$", report, re.MULTILINE)
        if not match:
            raise ValueError(f"no {percent}% line in wrk output:\n{report}")
        return float(match[1]) * _UNIT_MS[match[2]]

    rate = re.search(r"^Requests/sec:\s+([\d.]+)", report, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in", report, re.MULTILINE)
    if not rate or not total:
        raise ValueError(f"unreadable wrk output:\n{report}")
    socket_errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", report))
    bad_status = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", report)
    return Load(
        float(rate[1]),
        latency("50"),
        latency("99"),
        int(total[1]),
        socket_errors,
        int(bad_status[1]) if bad_status else 0,
    )


def wait_for_200(url: str, proc: subprocess.Popen, log: Path) -> None:
    """Poll ``url`` until it answers 200; fail early, with the server's log, if the server exits."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"no 200 from {url} within {START_TIMEOUT_S:.0f} s: {_tail(log)}")


@contextmanager
def running(argv: list[str], url: str, log: Path, *, stop_signal: int, env: dict | None = None):
    """Start a server, wait until ``url`` answers 200, yield, then stop it with ``stop_signal``.

    The server gets its own session, so that if it ignores the signal its whole
    process group (our child and its workers, nothing else) can be killed.
    """
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, start_new_session=True)
    try:
        wait_for_200(url, proc, log)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(stop_signal)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def nginx_conf(folder: Path, root: Path, port: int) -> Path:
    """Write a throwaway nginx.conf serving ``root`` on 127.0.0.1:``port``; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    # As root, nginx's workers would drop to "nobody", which cannot read a private temp folder.
    user = "user root;" if os.geteuid() == 0 else ""
    conf = folder / "nginx.conf"
    conf.write_text(
        f"""{user}
daemon off;
master_process on;
worker_processes auto;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    default_type text/html;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""
    )
    return conf


@contextmanager
def nginx(folder: Path, root: Path, probe_path: str):
    """Run nginx over ``root`` on a free port until the block ends; yield its base URL."""
    port = free_port()
    conf = nginx_conf(folder, root, port)
    base = f"http://127.0.0.1:{port}"
    argv = [NGINX, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(conf)]
    with running(argv, base + probe_path, folder / "error.log", stop_signal=signal.SIGQUIT):
        yield base


@contextmanager
def paylink_edge(paylink: list[str], site: Path, log: Path, probe_path: str):
    """Run `paylink --site SITE serve --port P` until the block ends (stopped by SIGINT); yield its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("PAYLINK_SITE", "PAYLINK_SECRET_KEY")}
    with running(
        [*paylink, "--site", str(site), "serve", "--port", str(port)],
        base + probe_path,
        log,
        stop_signal=signal.SIGINT,
        env=env,
    ):
        yield base


def _tail(log: Path, lines: int = 5) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def answer_of(url: str) -> tuple[list[tuple[str, str]], bytes]:
    """GET ``url`` once; return its end-to-end headers (minus Date and Server) and body.

    Hop-by-hop headers are left out: urllib asks to close the connection, and a
    peer that repeated ``Connection: close`` would make wrk reconnect every time.
    """
    with urllib.request.urlopen(url, timeout=10) as answer:
        body = answer.read()
        headers = [(k, v) for k, v in answer.headers.items() if k.lower() not in _NOT_REPEATED]
    return headers, body


# The peer runs through the interface `paylink serve` runs the edge with (edge/serve.py: ASGI
# without lifespan, for the raw path), so that the ratio is the edge's own cost and not granian's
# ASGI layer, which a do-nothing handler pays too (measured: 0.8-0.9x of the same handler on RSGI).
NOOP_TARGETS = {"asginl": "noop_rsgi:asgi_application", "rsgi": "noop_rsgi:application"}


@contextmanager
def granian_noop(
    python: str, headers: list[tuple[str, str]], body_bytes: int, log: Path, *, workers: int, interface: str = "asginl"
):
    """Run granian (``interface``, ``workers`` processes, as `paylink serve` runs it) with bench/noop_rsgi.py,
    which answers every request with these headers and a body of ``body_bytes``; yield its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "BENCH_NOOP_HEADERS": json.dumps(headers),
        "BENCH_NOOP_BODY_BYTES": str(body_bytes),
    }
    argv = [
        python,
        "-m",
        "granian",
        "--interface",
        interface,
        "--workers",
        str(workers),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--working-dir",
        str(BENCH_DIR),
        NOOP_TARGETS[interface],
    ]
    with running(argv, base + "/", log, stop_signal=signal.SIGINT, env=env):
        yield base


@contextmanager
def workerd(config: dict, folder: Path, name: str, probe_path: str = "/"):
    """Run bench/workerd_serve.mjs (Miniflare, i.e. workerd) with ``config`` on a free port; yield its base URL.

    ``config`` says which Worker (``mode``: "worker" with ``worker_dir``, bindings and the
    files to put in its R2 bucket, or "constant" with ``headers`` and ``body_bytes``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config_file = folder / f"{name}.json"
    config_file.write_text(json.dumps({**config, "port": port}))
    base = f"http://127.0.0.1:{port}"
    argv = ["node", str(BENCH_DIR / "workerd_serve.mjs"), str(config_file)]
    with running(argv, base + probe_path, folder / f"{name}.log", stop_signal=signal.SIGTERM):
        yield base
