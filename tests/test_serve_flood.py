"""`paylink serve` as customers meet it (CONTRACT §6): encoded slashes and the like are 404, as under
any WSGI server, and an ordinary request is answered while 1,500 other connections send their
headers slowly. Real HTTP on 127.0.0.1 against the real `paylink serve`; every wait is bounded."""

import os
import resource
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest
from conftest import Paylink, make_site

PAYLINK = shutil.which("paylink") or "paylink"
FLOOD = 1500
ANSWER_TIMEOUT_S = 10.0  # generous: the contract says a second; the old server took ~30 s


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`paylink serve` over a site with one live link: yields (port, token)."""
    root = tmp_path_factory.mktemp("serve")
    site = make_site(root / "site")
    pl = Paylink(site)
    pl.ok("customer", "add", "Ann Lee", "--ref", "ann")
    url = pl.json("link", "generate", "ann")["url"]
    token = url.rsplit("/p/", 1)[1]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYLINK_")}
    log = root / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [PAYLINK, "--site", str(site), "serve", "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"paylink serve did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.05)
    try:
        yield port, token
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def get(port: int, target: str, timeout: float = ANSWER_TIMEOUT_S) -> int:
    """Send one GET with the target exactly as given; return the status."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode("latin-1"))
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    return int(head.split(b" ", 2)[1])


def test_a_live_link_is_served(served):
    port, token = served
    assert get(port, f"/p/{token}") == 200


@pytest.mark.parametrize(
    "form",
    [
        "/p%2F{t}",
        "/p%2f{t}",
        "/p%5c{t}",
        "/p%5C{t}",
        "/p/%2e%2e/p/{t}",
        "/p/{t}%00",
        "/p%00/{t}",
        "/%2Fp/{t}",
        "/%2e/p/{t}",
        "/x/../p/{t}",
        "//p/{t}",
        "/p//{t}",
        "/p/{t}/",
        "/P/{t}",
    ],
)
def test_encoded_and_odd_paths_are_404(served, form: str):
    port, token = served
    assert get(port, form.format(t=token)) == 404


def test_an_ordinary_request_is_answered_during_a_slow_header_flood(served):
    port, token = served
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < FLOOD + 200:
        pytest.skip(f"this process may open only {hard} files; the flood needs {FLOOD + 200}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, FLOOD + 200), hard))
    flood: list[socket.socket] = []
    stop = threading.Event()
    try:
        for _ in range(FLOOD):
            sock = socket.socket()
            sock.setblocking(False)
            try:
                sock.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            flood.append(sock)
        time.sleep(0.3)

        def trickle() -> None:
            # Headers that never end, a byte at a time: the slowloris pattern.
            first = True
            while not stop.is_set():
                for sock in flood:
                    try:
                        sock.send(b"GET / HTTP/1.1\r\nHost: x\r\n" if first else b"X")
                    except OSError:
                        pass
                first = False
                stop.wait(0.5)

        threading.Thread(target=trickle, daemon=True).start()
        time.sleep(1.0)  # every flood connection has started its headers
        started = time.monotonic()
        status = get(port, f"/p/{token}")
        took = time.monotonic() - started
        print(f"ordinary request answered {status} in {took * 1000:.0f} ms with {FLOOD} slow connections open")
        assert status == 200
    finally:
        stop.set()
        for sock in flood:
            sock.close()
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
