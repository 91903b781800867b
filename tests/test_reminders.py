"""`paylink remind` and consent (CONTRACT §9): only to customers who agreed, in their language, never twice.

Real servers on 127.0.0.1: aiosmtpd with STARTTLS (or TLS) and AUTH, and an HTTP
receiver behind Apprise's ``json://``; the real CLI (in-process, or a subprocess
that is killed mid-run); the real ledger read back with plain sqlite3.
"""

import datetime as dt
import json
import os
import random
import signal
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest
from conftest import PAYLINK, Paylink, make_site
from mailserver import PASSWORD, SmsReceiver, SmtpServer, free_port, make_cert
from sitepages import ledger

PUBLIC = "https://pay.example.com"
BUSINESS_EMAIL = "billing@plumbing.example"


@pytest.fixture(scope="module")
def cert(tmp_path_factory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return make_site(tmp_path / "site", "--base-url", PUBLIC, "--email", BUSINESS_EMAIL)


@pytest.fixture
def paylink(site: Path) -> Paylink:
    return Paylink(site)


def configure(site: Path, smtp: str | None = None, **extra) -> None:
    """Add a [reminders] table to paylink.toml."""
    lines = ["", "[reminders]"]
    if smtp:
        lines.append(f'smtp = "{smtp}"')
    for key, value in extra.items():
        lines.append(f"{key} = {json.dumps(value)}")
    with open(site / "paylink.toml", "a", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")


def run_env(cert: tuple[Path, Path], sms_url: str | None = None) -> dict:
    return {"PAYLINK_SMTP_PASSWORD": PASSWORD, "SSL_CERT_FILE": str(cert[0]), "PAYLINK_SMS_URL": sms_url or ""}


def days_ago(n: int) -> str:
    return (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=n)).isoformat()


def owing(paylink: Paylink, name: str, ref: str, *extra: str, reminders: str | None = "email,sms", days: int = 5):
    """A customer who owes 120.50 since ``days`` ago, with a link and (unless None) consent to ``reminders``."""
    paylink.ok("customer", "add", name, "--ref", ref, *extra)
    paylink.ok("charge", ref, "120.50", "Boiler repair", "--date", days_ago(days))
    paylink.ok("link", "generate", ref)
    if reminders is not None:
        paylink.ok("customer", "edit", ref, "--reminders", reminders)


def rows(site: Path, sql: str, *args) -> list[tuple]:
    with closing(ledger(site)) as conn:
        return conn.execute(sql, args).fetchall()


def dump(site: Path) -> list[str]:
    """Everything in the ledger, as SQL."""
    with closing(ledger(site)) as conn:
        return list(conn.iterdump())


# --- consent ---------------------------------------------------------------------


def test_consent_is_recorded_with_its_time_and_shown(site, paylink):
    paylink.ok("customer", "add", "Jane Doe", "--ref", "JANE", "--email", "jane@example.com")
    assert paylink.json("customer", "show", "JANE")["reminders"] == []
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)

    edited = paylink.json("customer", "edit", "JANE", "--reminders", "sms,email")
    assert edited == {
        "id": 1,
        "name": "Jane Doe",
        "email": "jane@example.com",
        "phone": None,
        "ref": "JANE",
        "language": None,
    }
    assert paylink.json("customer", "show", "JANE")["reminders"] == ["email", "sms"]
    assert "Reminders: email, sms" in paylink.ok("customer", "show", "JANE").stdout

    paylink.ok("customer", "edit", "JANE", "--reminders", "off")  # replied STOP
    assert paylink.json("customer", "show", "JANE")["reminders"] == []
    assert "Reminders: off" in paylink.ok("customer", "show", "JANE").stdout
    paylink.ok("customer", "edit", "JANE", "--reminders", "email")
    assert paylink.json("customer", "show", "JANE")["reminders"] == ["email"]

    history = rows(site, "SELECT channels, given_at FROM reminder_consents WHERE customer_id = 1 ORDER BY id")
    assert [channels for channels, _ in history] == ["email,sms", "", "email"]
    for _, given_at in history:
        assert before <= dt.datetime.fromisoformat(given_at.replace("Z", "+00:00")) <= dt.datetime.now(dt.UTC)
    with closing(ledger(site)) as conn, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE reminder_consents SET channels = 'sms'")


@pytest.mark.parametrize("bad", ["fax", "email,fax", "", "email,email", "off,sms"])
def test_a_bad_channel_list_is_refused_and_nothing_is_recorded(site, paylink, bad):
    paylink.ok("customer", "add", "Jane Doe", "--ref", "JANE", "--email", "jane@example.com")
    line = paylink.fails("customer", "edit", "JANE", "--reminders", bad, "--name", "Jane Changed").stderr
    assert "email,sms" in line and "off" in line
    assert rows(site, "SELECT COUNT(*) FROM reminder_consents") == [(0,)]
    assert paylink.json("customer", "show", "JANE")["name"] == "Jane Doe"


# --- settings --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ({"smtp": "smtp://u:hunter2@mail.example.com:587"}, "PAYLINK_SMTP_PASSWORD"),
        ({"smtp": "http://mail.example.com"}, "reminders.smtp"),
        ({"smtp": "smtp://:587"}, "reminders.smtp"),
        ({"every_days": 0}, "reminders.every_days"),
        ({"max": "3"}, "reminders.max"),
        ({"after_days": True}, "reminders.after_days"),
        ({"email_from": "not an address"}, "reminders.email_from"),
        ({"often": 3}, "reminders.often"),
    ],
)
def test_bad_reminder_settings_are_an_error_naming_the_setting(site, paylink, table, named):
    configure(site, **table)
    result = paylink.fails("customer", "add", "Jane Doe")
    assert named in result.stderr
    assert "hunter2" not in result.stderr
    assert rows(site, "SELECT COUNT(*) FROM customers") == [(0,)]
    paylink.fails("remind")


def test_smtp_without_a_sender_is_an_error(tmp_path):
    site = make_site(tmp_path / "site")  # no business email
    configure(site, "smtp://u@mail.example.com:587")
    assert "reminders.email_from" in Paylink(site).fails("remind").stderr


def test_without_a_reminders_table_remind_says_reminders_are_off(paylink):
    line = paylink.fails("remind").stderr
    assert line.startswith("Error: Reminders are off") and "[reminders]" in line


# --- sending ---------------------------------------------------------------------


def test_reminders_go_by_email_and_text_in_each_customers_language(tmp_path, cert):
    site = make_site(tmp_path / "site", "--base-url", PUBLIC, "--email", BUSINESS_EMAIL, "--name", "Smith & <Sons>")
    paylink = Paylink(site)
    owing(paylink, "Jane Doe", "JANE", "--email", "jane@example.com", "--phone", "(555) 010-1234")
    owing(
        paylink, "Juan Pérez", "JUAN", "--email", "juan@example.com", "--phone", "+34 612 345 678", "--language", "es"
    )
    owing(paylink, "Olga Off", "OLGA", "--email", "olga@example.com", reminders="email")
    paylink.ok("customer", "edit", "OLGA", "--reminders", "off")  # she replied STOP
    owing(paylink, "Nora Never", "NORA", "--email", "nora@example.com", reminders=None)
    owing(paylink, "Tim Today", "TIM", "--email", "tim@example.com", days=1)  # charged too recently
    owing(paylink, "Pat Paid", "PAT", "--email", "pat@example.com")
    paylink.ok("credit", "PAT", "120.50", "Paid")
    owing(paylink, "Ed Email", "ED", "--phone", "555-0199", reminders="email")  # agreed, but no address

    with SmtpServer(*cert) as smtp, SmsReceiver() as sms:
        configure(site, smtp.url)
        result = paylink.json("remind", env=run_env(cert, sms.url))

        assert sorted((s["customer_id"], s["channel"], s["to"]) for s in result["sent"]) == [
            (1, "email", "jane@example.com"),
            (1, "sms", "+15550101234"),
            (2, "email", "juan@example.com"),
            (2, "sms", "+34612345678"),
        ]
        assert result["failed"] == []
        skipped = {s["customer_id"]: s["reason"] for s in result["skipped"]}
        assert set(skipped) == {3, 4, 5, 7}  # Pat owes nothing: not even considered
        assert "consent" in skipped[3] and "consent" in skipped[4]
        assert "charged 1 day(s) ago" in skipped[5]
        assert "no email address" in skipped[7]

        # One connection for the run, logged in with the password from the environment.
        assert smtp.sessions == 1
        assert smtp.logins == [(b"paylink", True)]
        assert sorted(smtp.to()) == ["jane@example.com", "juan@example.com"]
        by_to = {m.rcpt[0]: m.message for m in smtp.received}
        jane, juan = by_to["jane@example.com"], by_to["juan@example.com"]
        for message in (jane, juan):
            assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith("@plumbing.example>")
            assert dt.datetime.now(dt.UTC) - message["Date"].datetime < dt.timedelta(minutes=5)
            assert message["List-Unsubscribe"] == f"<mailto:{BUSINESS_EMAIL}?subject=unsubscribe>"
            assert message["From"].addresses[0].addr_spec == BUSINESS_EMAIL
            assert message.get_content_type() == "multipart/alternative"
            text, html = message.get_body(("plain",)), message.get_body(("html",))
            assert text.get_content_charset() == "utf-8" and html.get_content_charset() == "utf-8"
            url = paylink.json("link", "show", message["To"].split("@")[0].upper())["url"]
            assert url in text.get_content() and f'href="{url}"' in html.get_content()
            assert "Smith &amp; &lt;Sons&gt;" in html.get_content() and "<Sons>" not in html.get_content()
        assert jane["Subject"] == "Reminder: you owe Smith & <Sons> $120.50"
        assert (
            "<title>Reminder: you owe Smith &amp; &lt;Sons&gt; $120.50</title>"
            in jane.get_body(("html",)).get_content()
        )
        assert "To stop them, write to billing@plumbing.example" in jane.get_body(("plain",)).get_content()
        assert juan["Subject"] == "Recordatorio: tiene un saldo pendiente de $120.50 con Smith & <Sons>"
        juan_text = juan.get_body(("plain",)).get_content()
        assert "Le recordamos" in juan_text and "Para no recibir más" in juan_text and "reminder" not in juan_text

        texts = {phone: body for (_, body), phone in zip(sms.posts, sms.phones(), strict=True)}
        assert set(texts) == {"+15550101234", "+34612345678"}
        english, spanish = texts["+15550101234"]["message"], texts["+34612345678"]["message"]
        assert english.startswith("Smith & <Sons>: ") and english.endswith("Reply STOP to stop")
        assert "$120.50" in english and len(english) <= 320
        assert spanish.startswith("Smith & <Sons>: le recordamos") and spanish.endswith(
            "Responda STOP para no recibir más"
        )

        assert rows(site, "SELECT status, COUNT(*) FROM reminders GROUP BY status") == [("sent", 4)]

        # Run again the same day: nobody gets a second one.
        again = paylink.json("remind", env=run_env(cert, sms.url))
        assert again["sent"] == [] and again["failed"] == []
        assert "already reminded today" in {s["customer_id"]: s["reason"] for s in again["skipped"]}[1]
        assert len(smtp.received) == 2 and len(sms.posts) == 2


def test_dry_run_prints_who_would_get_what_and_changes_nothing(site, paylink, cert):
    owing(paylink, "Jane Doe", "JANE", "--email", "jane@example.com", "--phone", "555-010-1234")
    with SmtpServer(*cert) as smtp, SmsReceiver() as sms:
        configure(site, smtp.url)
        before = dump(site)
        dry = paylink.json("remind", "--dry-run", env=run_env(cert, sms.url))
        text = paylink.ok("remind", "--dry-run", env=run_env(cert, sms.url)).stdout
        assert smtp.received == [] and sms.posts == [] and smtp.sessions == 0
        assert dump(site) == before
    assert dry["sent"] == [] and dry["failed"] == []
    would = {(w["channel"], w["to"]): w for w in dry["would_send"]}
    assert set(would) == {("email", "jane@example.com"), ("sms", "+15550101234")}
    assert would[("sms", "+15550101234")]["text"].endswith("Reply STOP to stop")
    assert "Would remind customer 1 by email at jane@example.com" in text
    assert "Subject: Reminder: you owe Test Plumbing $120.50" in text


def test_a_reminder_email_names_the_pay_methods_with_the_amount(site, paylink, cert):
    """CONTRACT §9: the reminder carries the pay methods, where set, with the amount and the reference."""
    owing(paylink, "Jane Doe", "JANE", "--email", "jane@example.com", "--phone", "555-010-1234")
    with open(site / "paylink.toml", "a", encoding="utf-8") as file:
        file.write('\n[[pay]]\nmethod = "venmo"\nhandle = "bobs-plumbing"\n')
    with SmtpServer(*cert) as smtp, SmsReceiver() as sms:
        configure(site, smtp.url)
        dry = paylink.json("remind", "--dry-run", env=run_env(cert, sms.url))
    email = next(w for w in dry["would_send"] if w["channel"] == "email")
    line = next(line for line in email["text"].splitlines() if line.startswith("Pay by Venmo: "))
    assert line.startswith("Pay by Venmo: https://venmo.com/bobs-plumbing?") and "amount=120.50" in line
    assert "JANE" in line
    sms_text = next(w for w in dry["would_send"] if w["channel"] == "sms")["text"]
    assert len(sms_text) <= 320 and sms_text.endswith("Reply STOP to stop")


def test_a_refused_smtp_server_fails_the_emails_and_the_texts_still_go(site, paylink, cert):
    owing(paylink, "Jane Doe", "JANE", "--email", "jane@example.com", "--phone", "555-010-1234")
    owing(paylink, "Carl Mail", "CARL", "--email", "carl@example.com", reminders="email")
    closed = free_port()  # nothing listens here: connection refused
    configure(site, f"smtp://paylink@127.0.0.1:{closed}")
    with SmsReceiver() as sms:
        result = paylink(*("remind", "--json"), env=run_env(cert, sms.url))
        assert result.exit_code == 3
        warnings = result.stderr.strip().splitlines()
        assert len(warnings) == 1 and warnings[0].startswith("Warning: 2 reminder(s) could not be sent")
        document = json.loads(result.stdout)
        assert [(s["customer_id"], s["channel"]) for s in document["sent"]] == [(1, "sms")]
        assert sorted((f["customer_id"], f["channel"]) for f in document["failed"]) == [(1, "email"), (2, "email")]
        assert all(f"127.0.0.1:{closed}" in f["error"] and PASSWORD not in f["error"] for f in document["failed"])
        assert sms.phones() == ["+15550101234"]
        assert rows(site, "SELECT channel, status FROM reminders ORDER BY id") == [
            ("email", "failed"),
            ("sms", "sent"),
            ("email", "failed"),
        ]

        # The next run retries the failed emails (a failed send does not count) and not the text.
        with SmtpServer(*cert) as smtp:
            text = (site / "paylink.toml").read_text().replace(f"127.0.0.1:{closed}", f"127.0.0.1:{smtp.port}")
            (site / "paylink.toml").write_text(text)
            retry = paylink.json("remind", env=run_env(cert, sms.url))
            assert sorted((s["customer_id"], s["channel"]) for s in retry["sent"]) == [(1, "email"), (2, "email")]
            assert sorted(smtp.to()) == ["carl@example.com", "jane@example.com"]
        assert len(sms.posts) == 1


def test_a_failing_text_service_is_reported_and_the_emails_still_go(site, paylink, cert):
    owing(paylink, "Jane Doe", "JANE", "--email", "jane@example.com", "--phone", "555-010-1234")
    with SmtpServer(*cert) as smtp, SmsReceiver(fail=True) as sms:
        configure(site, smtp.url)
        result = paylink("remind", "--json", env=run_env(cert, sms.url))
        assert result.exit_code == 3 and result.stderr.count("Warning:") == 1
        document = json.loads(result.stdout)
        assert [(s["channel"]) for s in document["sent"]] == ["email"]
        assert [(f["customer_id"], f["channel"]) for f in document["failed"]] == [(1, "sms")]
        assert str(sms.port) not in document["failed"][0]["error"]  # the service's URL (its secrets) is not echoed
        assert smtp.to() == ["jane@example.com"] and len(sms.posts) == 1


def test_smtps_sends_over_tls_from_the_start(site, paylink, cert):
    owing(paylink, "Jane Doe", "JANE", "--email", "jane@example.com", reminders="email")
    with SmtpServer(*cert, implicit_tls=True) as smtp:
        configure(site, smtp.url)
        assert [s["to"] for s in paylink.json("remind", env=run_env(cert))["sent"]] == ["jane@example.com"]
        assert smtp.to() == ["jane@example.com"] and smtp.logins == [(b"paylink", True)]


def test_a_run_killed_mid_send_never_sends_anyone_twice(site, paylink, cert):
    for n in range(1, 7):
        owing(paylink, f"Customer {n}", f"C{n}X", "--email", f"c{n}@example.com", reminders="email")
    env = {**os.environ, **run_env(cert), "PAYLINK_SITE": str(site)}
    with SmtpServer(*cert, stall_at=3) as stalling:
        configure(site, stalling.url)
        process = subprocess.Popen(
            [PAYLINK, "remind", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            assert stalling.stalled.wait(60), "the third message never reached the server"
        finally:
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL
    assert rows(site, "SELECT customer_id, status FROM reminders ORDER BY id") == [
        (1, "sent"),
        (2, "sent"),
        (3, "sending"),
    ]
    with SmtpServer(*cert) as smtp:
        text = (site / "paylink.toml").read_text().replace(str(stalling.port), str(smtp.port))
        (site / "paylink.toml").write_text(text)
        second = subprocess.run([PAYLINK, "remind", "--json"], env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        result = json.loads(second.stdout)
        third = subprocess.run([PAYLINK, "remind", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert [s["customer_id"] for s in result["sent"]] == [4, 5, 6]
    reasons = {s["customer_id"]: s["reason"] for s in result["skipped"]}
    assert "never confirmed" in reasons[3] and "c3@example.com" in reasons[3]
    assert "already reminded today" in reasons[1]
    everyone = stalling.to() + smtp.to()
    assert sorted(everyone) == [f"c{n}@example.com" for n in range(1, 7)]  # each exactly once
    assert json.loads(third.stdout)["sent"] == []


# --- who is due, among 1,000 ------------------------------------------------------


def test_among_1000_customers_exactly_those_due_get_one(tmp_path, cert):
    site = make_site(tmp_path / "site", "--base-url", PUBLIC, "--email", BUSINESS_EMAIL)
    paylink = Paylink(site)
    rng = random.Random(20261206)
    today = dt.datetime.now(dt.UTC).date()
    every, most, after = 7, 3, 3

    people = []
    for n in range(1, 1001):
        person = {
            "id": n,
            "email": f"c{n}@example.com" if rng.random() < 0.8 else None,
            "phone": rng.choice([f"555{n:07d}", None, "555-0101"]),  # the last has no area code
            "language": rng.choice(["en", "es", ""]),
            "balance": rng.choice(["owes", "owes", "owes", "zero", "credit"]),
            "charged": rng.randint(0, 10),  # days ago
            "link": rng.random() < 0.9,
            "consent": rng.choice(["email", "sms", "email,sms", "off", None]),
            "history": [],  # (channel, days ago, status)
        }
        for channel in ("email", "sms"):
            for _ in range(rng.choice([0, 0, 1, 2, 3])):
                days = rng.randint(0, 14)
                person["history"].append((channel, days, rng.choice(["sent", "sent", "failed", "sending"])))
        people.append(person)

    customers = tmp_path / "customers.csv"
    customers.write_text(
        "name,email,phone,ref,language\n"
        + "".join(
            f"Customer {p['id']},{p['email'] or ''},{p['phone'] or ''},R{p['id']}X,{p['language']}\n" for p in people
        )
    )
    paylink.ok("import", "customers", str(customers))
    entries = tmp_path / "entries.csv"
    lines = ["customer,kind,amount,description,date"]
    for p in people:
        lines.append(f"{p['id']},charge,40.00,Work,{days_ago(p['charged'])}")
        if p["balance"] != "owes":
            lines.append(
                f"{p['id']},credit,{'40.00' if p['balance'] == 'zero' else '50.00'},Paid,{days_ago(p['charged'])}"
            )
    entries.write_text("\n".join(lines) + "\n")
    paylink.ok("import", "entries", str(entries))
    paylink.ok("link", "generate", "--all")
    with closing(ledger(site)) as conn, conn:
        for p in people:
            if not p["link"]:
                conn.execute("UPDATE links SET retired_at = '2026-01-01T00:00:00Z', retired_because = 'revoked'"
                             " WHERE customer_id = ?", (p["id"],))  # fmt: skip
            if p["consent"] is not None:
                conn.execute("INSERT INTO reminder_consents (customer_id, channels) VALUES (?, ?)",
                             (p["id"], "" if p["consent"] == "off" else p["consent"]))  # fmt: skip
            seen, kept = set(), []
            for channel, days, status in p["history"]:
                if status != "failed" and (channel, days) in seen:
                    continue  # one counting send a day
                if status != "failed":
                    seen.add((channel, days))
                kept.append((channel, days, status))
                day = today - dt.timedelta(days=days)
                conn.execute(
                    "INSERT INTO reminders (customer_id, channel, day, sent_to, status, started_at)"
                    " VALUES (?, ?, ?, 'x', ?, ?)",
                    (p["id"], channel, day.isoformat(), status, f"{day.isoformat()}T13:00:00Z"),
                )
            p["history"] = kept

    # The test's own reading of §9: who is due, from its own data.
    expected = set()
    for p in people:
        if p["balance"] != "owes" or not p["link"] or p["consent"] in (None, "off") or p["charged"] < after:
            continue
        for channel in p["consent"].split(","):
            if channel == "email" and not p["email"] or channel == "sms" and p["phone"] in (None, "555-0101"):
                continue
            counting = [d for c, d, s in p["history"] if c == channel and s != "failed"]
            if counting and min(counting) < every:
                continue  # reminded within every_days (today included)
            # Charged at noon UTC (an earlier day) and reminded at 13:00 UTC: a send on the day of the charge counts.
            if sum(1 for d in counting if d <= p["charged"]) >= most:
                continue
            expected.add((p["id"], channel, p["email"] if channel == "email" else f"+1555{p['id']:07d}"))
    assert 50 < len(expected) < 400  # the mix reaches every rule and still sends a fair number

    with SmtpServer(*cert) as smtp, SmsReceiver() as sms:
        configure(site, smtp.url, every_days=every, max=most, after_days=after)
        result = paylink.json("remind", env=run_env(cert, sms.url))
        assert {(s["customer_id"], s["channel"], s["to"]) for s in result["sent"]} == expected
        assert len(result["sent"]) == len(expected) and result["failed"] == []
        assert sorted(smtp.to()) == sorted(to for _, channel, to in expected if channel == "email")
        assert sorted(sms.phones()) == sorted(to for _, channel, to in expected if channel == "sms")
        assert smtp.sessions == 1
        owing_ids = {p["id"] for p in people if p["balance"] == "owes"}
        reminded = {customer for customer, _, _ in expected}
        skipped = {s["customer_id"] for s in result["skipped"]}
        assert owing_ids - reminded <= skipped <= owing_ids

        again = paylink.json("remind", env=run_env(cert, sms.url))
        assert again["sent"] == [] and len(smtp.received) == sum(1 for e in expected if e[1] == "email")


# --- the words -------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_text_stays_under_320_characters_with_the_brand_first(language):
    from paylink.messages import reminder_texts

    business = "B" * 120
    url = PUBLIC + "/p/" + "t" * 90
    texts = reminder_texts(
        language=language, business=business, amount="$1,000,000.00", url=url, contact="x@y.z", pay_lines=[]
    )
    assert len(texts.sms) <= 320 and texts.sms.startswith("BBBB") and url in texts.sms
    assert texts.sms.endswith("Reply STOP to stop" if language == "en" else "Responda STOP para no recibir más")


@pytest.mark.parametrize(
    ("phone", "territory", "expected"),
    [
        ("(555) 010-1234", "US", "+15550101234"),
        ("1-555-010-1234", "US", "+15550101234"),
        ("+34 612 345 678", "US", "+34612345678"),
        ("0034 612 345 678", "US", "+34612345678"),
        ("612 345 678", "ES", "+34612345678"),
        ("030 1234567", "DE", "+49301234567"),
        ("06 1234 5678", "IT", "+390612345678"),
        ("555-0101", "US", None),  # seven digits: no area code
        ("12", "US", None),
        ("612 345 678", None, None),  # a national number on a site without a territory
        (None, "US", None),
    ],
)
def test_phones_are_written_in_e164(phone, territory, expected):
    from paylink.reminders import e164

    assert e164(phone, territory) == expected


def test_a_customer_switched_off_gets_nothing(site, paylink, cert):
    owing(paylink, "Jane Doe", "JANE", "--email", "jane@example.com", "--phone", "555-010-1234")
    paylink.ok("customer", "edit", "JANE", "--reminders", "off")
    with SmtpServer(*cert) as smtp, SmsReceiver() as sms:
        configure(site, smtp.url)
        result = paylink.json("remind", env=run_env(cert, sms.url))
        assert result["sent"] == [] and result["skipped"] == [{"customer_id": 1, "reason": "no consent to reminders"}]
        assert smtp.received == [] and sms.posts == []


def test_time_starts_again_when_the_balance_goes_up(site, paylink, cert):
    """`max` counts reminders since the last charge: a new charge allows more."""
    owing(paylink, "Jane Doe", "JANE", "--email", "jane@example.com", reminders="email", days=30)
    with closing(ledger(site)) as conn, conn:
        for days in (8, 16, 24):
            day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)
            conn.execute(
                "INSERT INTO reminders (customer_id, channel, day, sent_to, status, started_at)"
                " VALUES (1, 'email', ?, 'jane@example.com', 'sent', ?)",
                (day.isoformat(), f"{day.isoformat()}T13:00:00Z"),
            )
    with SmtpServer(*cert) as smtp:
        configure(site, smtp.url)
        first = paylink.json("remind", env=run_env(cert))
        assert first["sent"] == [] and "3 time(s) since the last charge" in first["skipped"][0]["reason"]
        paylink.ok("charge", "JANE", "10", "More work", "--date", days_ago(4))
        second = paylink.json("remind", env=run_env(cert))
        assert [s["to"] for s in second["sent"]] == ["jane@example.com"]


def test_two_runs_at_once_never_send_anyone_twice(site, paylink, cert):
    """A second run while the first is stuck on its first message: each customer still gets one."""
    for n in range(1, 5):
        owing(paylink, f"Customer {n}", f"C{n}X", "--email", f"c{n}@example.com", reminders="email")
    env = {**os.environ, **run_env(cert), "PAYLINK_SITE": str(site)}
    with SmtpServer(*cert, stall_at=1) as smtp:
        configure(site, smtp.url)
        first = subprocess.Popen([PAYLINK, "remind", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert smtp.stalled.wait(60), "the first message never reached the server"
            second = subprocess.run([PAYLINK, "remind", "--json"], env=env, capture_output=True, text=True, timeout=120)
            assert second.returncode == 0, second.stderr
            smtp.release.set()
            out, err = first.communicate(timeout=120)
        finally:
            if first.poll() is None:
                first.kill()
        assert first.returncode == 0, err
    by_second, by_first = json.loads(second.stdout), json.loads(out)
    assert [s["customer_id"] for s in by_second["sent"]] == [2, 3, 4]
    assert "never confirmed" in {s["customer_id"]: s["reason"] for s in by_second["skipped"]}[1]
    assert [s["customer_id"] for s in by_first["sent"]] == [1]
    assert {s["customer_id"] for s in by_first["skipped"]} == {2, 3, 4}
    assert sorted(smtp.to()) == [f"c{n}@example.com" for n in range(1, 5)]
