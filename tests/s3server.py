"""moto's S3 server on 127.0.0.1, started once per test session: a real S3-compatible store, offline.

It is a fake of AWS (outside this machine's reach), not of anything of paylink's:
paylink talks to it over HTTP with boto3 exactly as it would to S3, R2 or MinIO.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

# Fake credentials and a region for every client in the test session (paylink's and the tests').
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def use_fake_credentials() -> None:
    """Point every S3 client of this process at fake credentials; never at a real profile or CA bundle."""
    os.environ.update(FAKE_AWS_ENV)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CA_BUNDLE"):
        os.environ.pop(name, None)


@contextmanager
def moto_server() -> Iterator[str]:
    """Run moto's S3 server on a free port of 127.0.0.1; yield its endpoint URL."""
    from moto.server import ThreadedMotoServer

    use_fake_credentials()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str):
    """A plain boto3 client for the tests to look inside the store."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RecordingProxy:
    """A plain HTTP forwarder on 127.0.0.1 in front of moto: records each request (method, path) in order.

    ``before`` (optional) is called with (method, path) before a request is
    forwarded, in the server's thread: a test can change things mid-request.
    Real HTTP both ways; nothing of paylink's is replaced.
    """

    def __init__(self, upstream: str):
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlsplit

        self.requests: list[tuple[str, str]] = []
        self.before = None
        target = urlsplit(upstream)
        proxy = self
        lock = threading.Lock()

        class Forward(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with lock:
                    proxy.requests.append((self.command, self.path))
                if proxy.before is not None:
                    proxy.before(self.command, self.path)
                upstream_conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    headers["Host"] = target.netloc
                    upstream_conn.request(self.command, self.path, body=body, headers=headers)
                    response = upstream_conn.getresponse()
                    data = response.read()
                    self.send_response(response.status)
                    for key, value in response.getheaders():
                        if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    upstream_conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def methods(self) -> list[str]:
        return [method for method, _ in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def hanging_store() -> Iterator[str]:
    """An endpoint on 127.0.0.1 that accepts connections and never answers; yield its URL."""
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            held.append(conn)  # kept open, never read from or written to

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        listener.close()


@contextmanager
def refusing_store() -> Iterator[tuple[str, list[float]]]:
    """An endpoint on 127.0.0.1 that accepts each connection and closes it at once (a store that is down
    behind a load balancer); yield its URL and the list of times (monotonic) it was connected to."""
    import threading
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    connected: list[float] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            connected.append(time.monotonic())
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", connected
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
