"""1,000 reminders through a local SMTP server (STARTTLS + AUTH), beside a plain smtplib loop (the floor).

    .venv/bin/python bench/remind_smtp.py [--customers 1000] [--keep]

Makes a site with that many customers who owe, have a link and agreed to email
reminders (charged 5 days ago), starts aiosmtpd on 127.0.0.1 (tests/mailserver.py),
times `paylink remind --json` as a subprocess (everything: start-up, planning,
one 'sending' and one 'sent' commit per message, the messages), then times a
plain smtplib loop sending the same number of similar messages over one
connection. Target: < 30 s for 1,000. Prints one JSON line.
"""

import argparse
import datetime as dt
import json
import os
import shutil
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from mailserver import PASSWORD, USER, SmtpServer, make_cert  # noqa: E402


def paylink(*args: str, env: dict | None = None) -> str:
    exe = shutil.which("paylink", path=str(Path(sys.executable).parent)) or "paylink"
    done = subprocess.run([exe, *args], capture_output=True, text=True, env=env, check=False)
    if done.returncode not in (0, 3):
        raise SystemExit(f"paylink {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def make_site(root: Path, customers: int) -> Path:
    site = root / "site"
    paylink("init", str(site), "--name", "Bench Plumbing", "--email", "billing@bench.example",
            "--base-url", "https://pay.example.com")  # fmt: skip
    day = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=5)).isoformat()
    (root / "c.csv").write_text(
        "name,email,ref\n" + "".join(f"Customer {n},c{n}@example.com,R{n}X\n" for n in range(1, customers + 1))
    )
    (root / "e.csv").write_text(
        "customer,kind,amount,description,date\n"
        + "".join(f"{n},charge,40.00,Work,{day}\n" for n in range(1, customers + 1))
    )
    paylink("--site", str(site), "import", "customers", str(root / "c.csv"))
    paylink("--site", str(site), "import", "entries", str(root / "e.csv"))
    paylink("--site", str(site), "link", "generate", "--all")
    sys.path.insert(0, str(HERE.parent))
    from paylink.ledger import find_customer
    from paylink.reminders import record_consent
    from paylink.storage import connect

    conn = connect(site / "paylink.db")
    for n in range(1, customers + 1):
        record_consent(conn, find_customer(conn, n), ["email"], now="2026-01-01T00:00:00Z")
    conn.close()
    return site


def floor(port: int, count: int, cert: Path) -> float:
    """A plain smtplib loop: one connection, STARTTLS, login, `count` two-part messages."""
    os.environ["SSL_CERT_FILE"] = str(cert)
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.starttls(context=ssl.create_default_context())
        smtp.login(USER, PASSWORD)
        for n in range(count):
            message = EmailMessage()
            message["From"], message["To"], message["Subject"] = "billing@bench.example", f"c{n}@example.com", "Hi"
            message.set_content("You owe $40.00. https://pay.example.com/p/x\n" * 8)
            message.add_alternative("<p>You owe $40.00.</p>" * 8, subtype="html")
            smtp.send_message(message)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--keep", action="store_true")
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="paylink-remind-bench-"))
    try:
        cert, key = make_cert(root)
        site = make_site(root, options.customers)
        with SmtpServer(cert, key) as server:
            text = (site / "paylink.toml").read_text() + f'\n[reminders]\nsmtp = "{server.url}"\n'
            (site / "paylink.toml").write_text(text)
            env = {**os.environ, "PAYLINK_SMTP_PASSWORD": PASSWORD, "SSL_CERT_FILE": str(cert), "PAYLINK_SMS_URL": ""}
            start = time.perf_counter()
            result = json.loads(paylink("--site", str(site), "remind", "--json", env=env))
            seconds = time.perf_counter() - start
            sent, sessions = len(result["sent"]), server.sessions
        with SmtpServer(cert, key) as server:
            plain = floor(server.port, options.customers, cert)
        print(
            json.dumps(
                {
                    "reminders": sent,
                    "remind_seconds": round(seconds, 2),
                    "smtp_sessions": sessions,
                    "plain_smtplib_seconds": round(plain, 2),
                    "ratio": round(seconds / plain, 2),
                    "target_seconds": 30,
                }
            )
        )
    finally:
        if not options.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
