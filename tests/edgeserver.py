"""The one way the tests start a real edge: ``python -m paylink.edge.serve`` on 127.0.0.1, or any WSGI
server command (gunicorn), with a free port, a log file, a bounded wait for it to listen, and a stop
that always runs (use ``running_edge``/``running_server`` in a ``with`` or call ``stop`` in ``finally``).
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT_S = 20.0


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def default_sigint() -> None:
    """In the child: take Ctrl-C's default even if this test run was started with SIGINT ignored
    (as a shell does for background jobs), so a SIGINT the tests send reaches the server."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any PAYLINK_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYLINK_")}
    env.update(extra)
    return env


@dataclass
class RunningServer:
    """A server process listening on 127.0.0.1:port, its output in log_path."""

    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send ``sig`` (SIGTERM: a graceful stop), wait, kill after 15 s; return the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def start_server(
    argv: Sequence[str], port: int, log_path: Path, env: Mapping[str, str], cwd: Path | None = None
) -> RunningServer:
    """Start ``argv`` (which must listen on ``port``) and wait until it accepts connections."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            preexec_fn=default_sigint,
        )
    server = RunningServer(port, process, log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                pytest.fail(f"{argv[0]} did not start listening on {port}:\n{server.log()}")
            time.sleep(0.05)


def start_edge(build_dir: Path, keys: Sequence[str], log_path: Path) -> RunningServer:
    """Start the real edge (``python -m paylink.edge.serve``, one worker) serving ``build_dir`` with ``keys``."""
    port = free_port()
    return start_server(edge_argv(build_dir, port), port, log_path, clean_env(PAYLINK_SECRET_KEY=",".join(keys)))


def edge_argv(build_dir: Path, port: int) -> list[str]:
    """The command line of the real edge on 127.0.0.1:port with one worker."""
    argv = [sys.executable, "-m", "paylink.edge.serve", "--build-dir", str(build_dir)]
    return argv + ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]


@contextmanager
def running_edge(build_dir: Path, keys: Sequence[str], log_path: Path) -> Iterator[RunningServer]:
    """The real edge for the length of a ``with`` block; stopped however the block ends."""
    server = start_edge(build_dir, keys, log_path)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def running_server(
    argv: Sequence[str], port: int, log_path: Path, env: Mapping[str, str], cwd: Path | None = None
) -> Iterator[RunningServer]:
    """Any server command for the length of a ``with`` block; stopped however the block ends."""
    server = start_server(argv, port, log_path, env, cwd)
    try:
        yield server
    finally:
        server.stop()


# --- raw HTTP: bytes sent as they are, so the server sees exactly the target a test wrote


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    raw: bytes


def send_raw(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send bytes as they are (no client-side path normalising) and read until the server closes."""
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass  # the caller inspects what arrived
    return b"".join(chunks)


def parse_response(raw: bytes) -> Response:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Response(int(status_line.split()[1]), headers, body, raw)


def request(port: int, path: str | bytes, method: str = "GET", extra: bytes = b"") -> Response:
    """One HTTP/1.1 request for ``path`` (sent byte for byte) on a fresh connection."""
    target = path if isinstance(path, bytes) else path.encode("latin-1")
    raw = send_raw(
        port,
        method.encode() + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + b"Connection: close\r\n\r\n",
    )
    return parse_response(raw)
