"""Payment reminders (CONTRACT §9): who agreed to them, who is due, the messages, and sending them once.

Consent is kept append-only per customer (``reminder_consents``: the newest
row is the current one, the older ones the history). A run of ``paylink
remind`` works out who is due from the ledger alone, then for each reminder
commits a ``reminders`` row marked 'sending' *before* the message goes out and
marks it 'sent' once the server accepted it. A unique index allows one such
row per customer, channel and local day, so a run killed at any moment, or a
second run the same day, never sends anyone a second reminder that day; a
'sending' row nobody confirmed is reported, never repeated. A 'failed' row
does not count, so the next run tries again.

Nothing here prints, prompts or imports click.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import smtplib
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from .errors import InvalidInput, PaylinkError, quoted
from .model import Customer
from .settings import ReminderSettings, Settings
from .storage import write_transaction

CHANNELS = ("email", "sms")
SMTP_PASSWORD_ENV = "PAYLINK_SMTP_PASSWORD"
SMS_URL_ENV = "PAYLINK_SMS_URL"
SMTP_TIMEOUT_S = 30.0


class RemindersOff(PaylinkError):
    """paylink.toml has no [reminders] table."""


class ReminderSetupError(PaylinkError):
    """The environment a run needs (password, text service) is missing or wrong."""


# --- consent -------------------------------------------------------------------


def parse_channels(text: str) -> tuple[str, ...]:
    """Return the channels of ``--reminders`` (``email,sms``, ``email``, ``sms``; ``off`` is none), or InvalidInput."""
    words = [w.strip().lower() for w in text.split(",") if w.strip()]
    if words == ["off"]:
        return ()
    if not words or any(w not in CHANNELS for w in words) or len(set(words)) != len(words):
        raise InvalidInput(f"reminders {quoted(text)} is not a list of channels — use email,sms, email, sms or off")
    return tuple(c for c in CHANNELS if c in words)


def record_consent(conn: sqlite3.Connection, customer: Customer, channels: Iterable[str], *, now: str) -> None:
    """Record the channels the customer now agrees to be reminded on (none: they stopped), as of ``now``."""
    chosen = tuple(c for c in CHANNELS if c in set(channels))
    with write_transaction(conn):
        conn.execute(
            "INSERT INTO reminder_consents (customer_id, channels, given_at) VALUES (?, ?, ?)",
            (customer.id, ",".join(chosen), now),
        )


def consented_channels(conn: sqlite3.Connection, customer_id: int) -> list[str]:
    """The channels the customer agreed to in their newest consent (none if they never did, or stopped)."""
    row = conn.execute(
        "SELECT channels FROM reminder_consents WHERE customer_id = ? ORDER BY id DESC LIMIT 1", (customer_id,)
    ).fetchone()
    return [c for c in (row[0].split(",") if row else []) if c]


# --- phone numbers ----------------------------------------------------------------

# Country calling codes of the territories a site's locale commonly names. A phone
# written with + (or 00) is taken as it is; a national number needs its territory here.
CALLING_CODES = {
    "US": "1", "CA": "1", "PR": "1", "MX": "52", "ES": "34", "GB": "44", "IE": "353", "DE": "49",
    "AT": "43", "CH": "41", "FR": "33", "BE": "32", "NL": "31", "LU": "352", "IT": "39", "PT": "351",
    "AR": "54", "BO": "591", "CL": "56", "CO": "57", "CR": "506", "DO": "1", "EC": "593", "GT": "502",
    "HN": "504", "NI": "505", "PA": "507", "PE": "51", "PY": "595", "SV": "503", "UY": "598", "VE": "58",
    "BR": "55", "IN": "91", "AU": "61", "NZ": "64", "ZA": "27", "SE": "46", "NO": "47", "DK": "45",
    "FI": "358", "PL": "48", "JP": "81",
}  # fmt: skip
# Territories whose national numbers keep their leading 0 after the country code.
_KEEP_TRUNK_ZERO = {"IT"}


def e164(phone: str | None, territory: str | None) -> str | None:
    """The phone in E.164 form (``+15550101``), or None when it cannot be one.

    ``+`` or ``00`` starts an international number. Otherwise it is national to
    the site's territory: NANP numbers (US, CA, ...) are 10 digits, or 11 with the
    leading 1; elsewhere one leading trunk 0 is dropped. The result has 8 to 15 digits.
    """
    if not phone:
        return None
    text = phone.strip()
    digits = re.sub(r"[^0-9]", "", text)
    if text.startswith("+"):
        number = digits
    elif digits.startswith("00"):
        number = digits[2:]
    else:
        code = CALLING_CODES.get(territory or "")
        if code is None:
            return None
        if code == "1":
            if len(digits) == 11 and digits.startswith("1"):
                digits = digits[1:]
            if len(digits) != 10 or digits[0] in "01":
                return None
        elif digits.startswith("0") and territory not in _KEEP_TRUNK_ZERO:
            digits = digits[1:]
        number = code + digits
    if not 8 <= len(number) <= 15 or number.startswith("0"):
        return None
    return "+" + number


# --- who is due -------------------------------------------------------------------


@dataclass(frozen=True)
class Reminder:
    """One reminder due: to one customer, on one channel, with its words."""

    customer_id: int
    channel: str  # "email" or "sms"
    to: str  # the email address, or the phone in E.164 form
    language: str
    text: str  # the text message, or the email's plain text
    subject: str | None = None
    html: str | None = None


@dataclass
class RemindResult:
    """What a run did (or, dry, would do)."""

    sent: list[Reminder] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (customer_id, reason)
    failed: list[tuple[Reminder, str]] = field(default_factory=list)  # (reminder, error)
    due: list[Reminder] = field(default_factory=list)  # a dry run's: who would get what

    def as_json(self) -> dict:
        return {
            "sent": [{"customer_id": r.customer_id, "channel": r.channel, "to": r.to} for r in self.sent],
            "skipped": [{"customer_id": c, "reason": reason} for c, reason in self.skipped],
            "failed": [{"customer_id": r.customer_id, "channel": r.channel, "error": e} for r, e in self.failed],
        }


@dataclass(frozen=True)
class _Owing:
    customer: Customer
    balance_minor: int
    last_up: dt.datetime  # the last entry that raised the balance (a charge, or a void of a credit)
    nonce: str | None
    channels: list[str]


def _owing_customers(conn: sqlite3.Connection) -> list[_Owing]:
    rows = conn.execute(
        """
        SELECT c.id, c.name, c.email, c.phone, c.ref, c.language, b.balance, b.last_up,
               (SELECT nonce FROM links l WHERE l.customer_id = c.id AND l.retired_at IS NULL),
               (SELECT channels FROM reminder_consents r WHERE r.customer_id = c.id ORDER BY r.id DESC LIMIT 1)
        FROM (SELECT customer_id, SUM(amount_minor) AS balance,
                     MAX(CASE WHEN amount_minor > 0 THEN julianday(posted_at) END) AS last_up
              FROM entries GROUP BY customer_id HAVING SUM(amount_minor) > 0) b
        JOIN customers c ON c.id = b.customer_id
        ORDER BY c.id
        """
    ).fetchall()
    owing = []
    for row in rows:
        last_up = _from_julian(row[7])
        channels = [c for c in (row[9] or "").split(",") if c]
        owing.append(_Owing(Customer(*row[:6]), int(row[6]), last_up, row[8], channels))
    return owing


def _from_julian(day: float) -> dt.datetime:
    """A julianday() value as a UTC time (to the second)."""
    seconds = round((day - 2440587.5) * 86400)
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


@dataclass
class _History:
    """A customer's reminders on one channel that count: sent, or sending and never confirmed."""

    days: list[str] = field(default_factory=list)  # local days
    started: list[dt.datetime] = field(default_factory=list)
    today: tuple[str, str, str] | None = None  # (status, to, started_at) of today's row


def _histories(conn: sqlite3.Connection, today: str) -> dict[tuple[int, str], _History]:
    found: dict[tuple[int, str], _History] = {}
    for customer_id, channel, day, status, sent_to, started_at, julian in conn.execute(
        "SELECT customer_id, channel, day, status, sent_to, started_at, julianday(started_at) FROM reminders"
        " WHERE status IN ('sending', 'sent') ORDER BY id"
    ):
        history = found.setdefault((customer_id, channel), _History())
        history.days.append(day)
        history.started.append(_from_julian(julian))
        if day == today:
            history.today = (status, sent_to, started_at)
    return found


def pay_method_lines(settings: Settings, customer: Customer, balance_minor: int, language: str) -> list[str]:
    """The ways to pay named in a reminder, one line each, in ``language`` (CONTRACT §8's ``[[pay]]`` methods,
    with the amount and the customer's reference filled in, as ``link share`` names them); none without methods."""
    if not settings.pay:
        return []
    from .i18n import translations
    from .pay_methods import Payer, share_lines

    payer = Payer(customer.id, customer.ref, customer.email)
    return share_lines(settings.pay, balance_minor, settings.currency, payer, translations(language).gettext)


def plan(
    conn: sqlite3.Connection,
    settings: Settings,
    link_url: Callable[[str], str],
    *,
    now: dt.datetime,
    email_ready: bool,
    sms_ready: bool,
) -> RemindResult:
    """Work out, from the ledger alone, which reminders are due now; the rest of those who owe are skipped with a reason.

    ``email_ready`` and ``sms_ready`` say whether the channel can send at all
    (SMTP set; ``PAYLINK_SMS_URL`` set). Changes nothing.
    """
    from babel import Locale

    from .i18n import money_locale, page_language
    from .messages import reminder_texts
    from .money import format_money

    config = settings.reminders
    if config is None:
        raise RemindersOff("reminders are off — add a [reminders] table to paylink.toml (see the README's Reminders)")
    zone = ZoneInfo(settings.timezone)
    today_date = now.astimezone(zone).date()
    today = today_date.isoformat()
    territory = Locale.parse(settings.locale).territory
    histories = _histories(conn, today)
    email_html = _email_html_template()
    result = RemindResult()
    for owing in _owing_customers(conn):
        customer = owing.customer
        reasons: list[str] = []
        due: list[tuple[str, str]] = []
        if owing.nonce is None:
            result.skipped.append((customer.id, "no live link — give them one with `paylink link generate`"))
            continue
        if not owing.channels:
            result.skipped.append((customer.id, "no consent to reminders"))
            continue
        since_charge = (today_date - owing.last_up.astimezone(zone).date()).days
        if since_charge < config.after_days:
            result.skipped.append(
                (customer.id, f"charged {since_charge} day(s) ago; reminders start after {config.after_days}")
            )
            continue
        for channel in owing.channels:
            reason = _channel_reason(
                channel, customer, owing, histories.get((customer.id, channel)), config, today_date, territory
            )
            if reason is None and not (email_ready if channel == "email" else sms_ready):
                reason = "no SMTP server set ([reminders] smtp)" if channel == "email" else f"{SMS_URL_ENV} is not set"
            if reason is None:
                address = customer.email if channel == "email" else e164(customer.phone, territory)
                due.append((channel, address or ""))
            else:
                reasons.append(f"{channel}: {reason}")
        if reasons:
            result.skipped.append((customer.id, "; ".join(reasons)))
        if not due:
            continue
        language = page_language(settings, customer.language)
        amount = format_money(owing.balance_minor, settings.currency, money_locale(settings, language))
        url = link_url(owing.nonce)
        contact = settings.email or config.email_from or ""
        texts = reminder_texts(
            language=language,
            business=settings.name,
            amount=amount,
            url=url,
            contact=contact,
            pay_lines=pay_method_lines(settings, customer, owing.balance_minor, language),
        )
        for channel, to in due:
            if channel == "sms":
                result.due.append(Reminder(customer.id, "sms", to, language, texts.sms))
            else:
                result.due.append(
                    Reminder(
                        customer.id,
                        "email",
                        to,
                        language,
                        "\n\n".join(texts.paragraphs) + "\n",
                        subject=texts.email_subject,
                        html=email_html.render(
                            subject=texts.email_subject, paragraphs=texts.paragraphs, url=url, language=language
                        ),
                    )
                )
    return result


def _channel_reason(
    channel: str,
    customer: Customer,
    owing: _Owing,
    history: _History | None,
    config: ReminderSettings,
    today: dt.date,
    territory: str | None,
) -> str | None:
    """Why the customer is not reminded on this channel today, or None when they are due."""
    if channel == "email" and not customer.email:
        return "no email address"
    if channel == "sms" and e164(customer.phone, territory) is None:
        if not customer.phone:
            return "no phone number"
        return f"phone {quoted(customer.phone)} cannot be written as +<country code><number>"
    if history is None:
        return None
    if history.today is not None:
        status, sent_to, started_at = history.today
        if status == "sent":
            return "already reminded today"
        return f"a send to {sent_to} started at {started_at} was never confirmed — not repeated today"
    last_day = dt.date.fromisoformat(max(history.days))
    if (today - last_day).days < config.every_days:
        return f"last reminded on {last_day.isoformat()}; reminders go every {config.every_days} day(s)"
    since_up = sum(1 for started in history.started if started >= owing.last_up)
    if since_up >= config.max:
        return f"already reminded {since_up} time(s) since the last charge (max {config.max})"
    return None


_EMAIL_HTML = """<!DOCTYPE html>
<html lang="{{ language }}">
<head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body>
{% for paragraph in paragraphs %}{% if paragraph == url %}<p><a href="{{ url }}">{{ url }}</a></p>
{% else %}<p>{% for line in paragraph.split("\\n") %}{% if not loop.first %}<br>{% endif %}{{ line }}{% endfor %}</p>
{% endif %}{% endfor %}</body>
</html>
"""


def _email_html_template():
    """The email's HTML part: the same paragraphs, every value escaped (Jinja autoescape), the link clickable."""
    from jinja2 import Environment

    return Environment(autoescape=True).from_string(_EMAIL_HTML)


# --- sending ----------------------------------------------------------------------


class SendFailed(Exception):
    """The server did not accept the message (the text says why, without secrets)."""


class Mailer:
    """Sends emails through one SMTP connection for the whole run (STARTTLS for smtp://, TLS for smtps://)."""

    def __init__(self, settings: Settings):
        from urllib.parse import unquote, urlsplit

        config = settings.reminders
        assert config is not None and config.smtp is not None
        parts = urlsplit(config.smtp)
        self.implicit_tls = parts.scheme == "smtps"
        self.host = parts.hostname or ""
        self.port = parts.port or (465 if self.implicit_tls else 587)
        self.user = unquote(parts.username) if parts.username else None
        self.password = os.environ.get(SMTP_PASSWORD_ENV)
        if self.user and not self.password:
            raise ReminderSetupError(
                f"reminders.smtp names user {quoted(self.user)} but {SMTP_PASSWORD_ENV} is not set"
                f" — set it to the mail account's password"
            )
        self.sender = config.email_from or ""
        self.business = settings.name
        self.unsubscribe = settings.email or self.sender
        self._smtp: smtplib.SMTP | None = None
        self._broken: str | None = None  # why the server cannot be reached: every later email fails the same

    def message(self, reminder: Reminder) -> EmailMessage:
        """The reminder as a proper email: Message-ID, Date, UTF-8 text and HTML, List-Unsubscribe."""
        from email.headerregistry import Address
        from email.utils import format_datetime, make_msgid

        message = EmailMessage()
        message["From"] = Address(self.business, addr_spec=self.sender)
        message["To"] = reminder.to
        message["Subject"] = reminder.subject or ""
        message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message["List-Unsubscribe"] = f"<mailto:{self.unsubscribe}?subject=unsubscribe>"
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(reminder.text, charset="utf-8")
        message.add_alternative(reminder.html or "", subtype="html", charset="utf-8")
        return message

    def send(self, reminder: Reminder) -> None:
        """Hand the email to the server; SendFailed unless it accepted it."""
        message = self.message(reminder)
        smtp = self._connection()
        try:
            refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise SendFailed(f"the mail server refused {reminder.to}: {_smtp_reply(exc.recipients)}") from exc
        except smtplib.SMTPResponseException as exc:
            raise SendFailed(f"the mail server refused the message ({exc.smtp_code} {_text(exc.smtp_error)})") from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()  # the next email opens a new connection
            raise SendFailed(f"the mail server connection failed ({_why(exc)})") from exc
        if refused:
            raise SendFailed(f"the mail server refused {reminder.to}")

    def _connection(self) -> smtplib.SMTP:
        import ssl

        if self._broken is not None:
            raise SendFailed(self._broken)
        if self._smtp is not None:
            return self._smtp
        where = f"{self.host}:{self.port}"
        context = ssl.create_default_context()
        try:
            smtp: smtplib.SMTP
            if self.implicit_tls:
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=SMTP_TIMEOUT_S, context=context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_S)
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    smtp.quit()
                    raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS")
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.user:
                smtp.login(self.user, self.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            self._broken = f"the mail server {where} refused the login of {self.user} — check {SMTP_PASSWORD_ENV}"
            raise SendFailed(self._broken) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._broken = f"the mail server {where} could not be reached ({_why(exc)})"
            raise SendFailed(self._broken) from exc
        self._smtp = smtp
        return smtp

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.close()
            except OSError:
                pass

    def close(self) -> None:
        """Say goodbye to the server (QUIT) and close the connection."""
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._drop()


def _text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return " ".join(text.split())[:200]


def _smtp_reply(recipients: dict) -> str:
    return "; ".join(f"{code} {_text(reply)}" for code, reply in recipients.values())[:200]


def _why(exc: BaseException) -> str:
    return _text(getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)


class Texter:
    """Sends text messages through the Apprise URL of ``PAYLINK_SMS_URL`` (``{phone}``: the E.164 number)."""

    def __init__(self, url: str):
        if "{phone}" not in url:
            raise ReminderSetupError(
                f"{SMS_URL_ENV} has no {{phone}} — put {{phone}} where the customer's number goes,"
                " e.g. twilio://SID:TOKEN@+15550100/{phone}"
            )
        with _quiet_apprise():
            import apprise

            known = apprise.Apprise().add(url.replace("{phone}", "+15550100"))
        # Checked once with a sample number: an unknown service is an error before anything is sent.
        if not known:
            scheme = url.partition("://")[0][:20]
            raise ReminderSetupError(
                f"{SMS_URL_ENV} ({scheme}://…) is not an Apprise URL paylink can send with"
                " — see https://github.com/caronc/apprise/wiki for the service's URL"
            )
        self.url = url

    def send(self, reminder: Reminder) -> None:
        """Hand the text to the service; SendFailed unless it accepted it."""
        import logging

        with _quiet_apprise():
            import apprise

            sender = apprise.Apprise()
            sender.add(self.url.replace("{phone}", reminder.to))
            with apprise.LogCapture(level=logging.WARNING) as log:
                accepted = sender.notify(body=reminder.text)
                said = log.getvalue()
        if not accepted:
            # Apprise's own words name the service's answer (an HTTP status); the URL, with its secrets, is left out.
            detail = re.sub(r"\S+://\S+", "…", " ".join(said.split()))[-200:]
            raise SendFailed(f"the text service did not accept it ({detail or 'no reason given'})")


@contextmanager
def _quiet_apprise():
    """Apprise without its own deprecation noise (it imports ``imghdr`` as it goes, on Python 3.11 and 3.12)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def run(
    conn: sqlite3.Connection,
    settings: Settings,
    link_url: Callable[[str], str],
    *,
    now: dt.datetime | None = None,
    dry_run: bool = False,
) -> RemindResult:
    """Send the reminders due now (or, ``dry_run``, only say who would get what, changing nothing)."""
    now = now or dt.datetime.now(dt.UTC)
    config = settings.reminders
    sms_url = os.environ.get(SMS_URL_ENV) or None
    email_ready = bool(config and config.smtp)
    result = plan(conn, settings, link_url, now=now, email_ready=email_ready, sms_ready=sms_url is not None)
    if dry_run or not result.due:
        return result
    mailer = Mailer(settings) if email_ready and any(r.channel == "email" for r in result.due) else None
    texter = Texter(sms_url) if sms_url and any(r.channel == "sms" for r in result.due) else None
    today = now.astimezone(ZoneInfo(settings.timezone)).date().isoformat()
    # How the last send ended, written in the same commit as the next claim: one fsync a
    # reminder, not two. A run killed in between leaves that row 'sending', which is
    # reported and never repeated, so the saving costs no safety.
    outcome: tuple[int, str, str | None] | None = None
    try:
        for reminder in result.due:
            row = _claim(conn, reminder, today, now, outcome)
            outcome = None
            if row is None:
                result.skipped.append((reminder.customer_id, f"{reminder.channel}: already reminded today"))
                continue
            try:
                (mailer if reminder.channel == "email" else texter).send(reminder)  # type: ignore[union-attr]
            except SendFailed as exc:
                outcome = (row, "failed", str(exc))
                result.failed.append((reminder, str(exc)))
            else:
                outcome = (row, "sent", None)
                result.sent.append(reminder)
    finally:
        if outcome is not None:
            with write_transaction(conn):
                _finish(conn, *outcome)
        if mailer is not None:
            mailer.close()
    result.due = []
    return result


def _claim(
    conn: sqlite3.Connection,
    reminder: Reminder,
    today: str,
    now: dt.datetime,
    outcome: tuple[int, str, str | None] | None,
) -> int | None:
    """Commit the 'sending' row before the reminder goes out (with the outcome of the send before it).

    None if today's reminder on that channel is already another run's: the
    check runs under the write lock, and a unique index backs it.
    """
    from .ledger import iso_utc

    with write_transaction(conn):
        if outcome is not None:
            _finish(conn, *outcome)
        taken = conn.execute(
            "SELECT 1 FROM reminders WHERE customer_id = ? AND channel = ? AND day = ? AND status IN ('sending', 'sent')",
            (reminder.customer_id, reminder.channel, today),
        ).fetchone()
        if taken:
            return None
        cursor = conn.execute(
            "INSERT INTO reminders (customer_id, channel, day, sent_to, status, started_at)"
            " VALUES (?, ?, ?, ?, 'sending', ?)",
            (reminder.customer_id, reminder.channel, today, reminder.to, iso_utc(now)),
        )
    return cursor.lastrowid


def _finish(conn: sqlite3.Connection, row: int, status: str, error: str | None) -> None:
    """Mark how a send ended ('sent' or 'failed'), inside the caller's transaction."""
    from .ledger import iso_utc

    conn.execute(
        "UPDATE reminders SET status = ?, error = ?, finished_at = ? WHERE id = ?",
        (status, error, iso_utc(dt.datetime.now(dt.UTC)), row),
    )
