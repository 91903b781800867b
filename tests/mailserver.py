"""Real servers for the reminder tests, on 127.0.0.1: an SMTP server (aiosmtpd, STARTTLS or TLS, AUTH)
and an HTTP receiver for Apprise's ``json://`` (what a text service's webhook gets).

They stand in for a mail provider and a text-message service, both outside this
machine's reach; paylink talks to them exactly as it would to the real ones.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

USER, PASSWORD = "paylink", "s3cret-smtp-pass"


def make_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (point SSL_CERT_FILE at it to trust it)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    """One message the SMTP server took."""

    rcpt: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


@dataclass
class SmtpServer:
    """aiosmtpd on a free port with AUTH (USER/PASSWORD); STARTTLS required, or TLS from the start (smtps)."""

    cert: Path
    key: Path
    implicit_tls: bool = False
    stall_at: int | None = None  # the n-th message (1-based) is received, then never answered
    received: list[Received] = field(default_factory=list)
    sessions: int = 0
    logins: list[tuple[bytes, bool]] = field(default_factory=list)
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        server = self
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)

        class Handler:
            async def handle_EHLO(self, smtp_server, session, envelope, hostname, responses):
                session.host_name = hostname
                return responses

            async def handle_DATA(self, smtp_server, session, envelope):
                server.received.append(Received(list(envelope.rcpt_tos), bytes(envelope.content)))
                if server.stall_at is not None and len(server.received) == server.stall_at:
                    server.stalled.set()
                    while not server.release.is_set():
                        await asyncio.sleep(0.05)
                return "250 OK"

        def authenticator(smtp_server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
                USER.encode(),
                PASSWORD.encode(),
            )
            server.logins.append((getattr(auth_data, "login", b""), ok))
            return AuthResult(success=ok)

        class CountingController(Controller):
            def factory(self):
                server.sessions += 1
                return super().factory()

        self.port = free_port()
        if self.implicit_tls:
            # The whole connection is TLS, which aiosmtpd's STARTTLS-based AUTH check does not see.
            self.controller = CountingController(
                Handler(),
                hostname="127.0.0.1",
                port=self.port,
                ssl_context=context,
                authenticator=authenticator,
                auth_require_tls=False,
            )
        else:
            self.controller = CountingController(
                Handler(),
                hostname="127.0.0.1",
                port=self.port,
                tls_context=context,
                require_starttls=True,
                authenticator=authenticator,
                auth_required=True,
            )

    @property
    def url(self) -> str:
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{USER}@127.0.0.1:{self.port}"

    def to(self) -> list[str]:
        return [r for message in self.received for r in message.rcpt]

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        self.sessions = 0  # the controller's own start-up probe is not a client
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.controller.stop()


class SmsReceiver:
    """An HTTP server that takes Apprise's ``json://`` POSTs: ``PAYLINK_SMS_URL=json://127.0.0.1:PORT/sms/{phone}``."""

    def __init__(self, *, fail: bool = False):
        self.posts: list[tuple[str, dict]] = []
        self.fail = fail
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.posts.append((self.path, json.loads(body)))
                self.send_response(500 if receiver.fail else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"json://127.0.0.1:{self.port}/sms/{{phone}}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def phones(self) -> list[str]:
        return [path.rsplit("/", 1)[1] for path, _ in self.posts]

    def __enter__(self) -> SmsReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
