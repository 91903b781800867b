"""The business's settings (``paylink.toml``) and the checks every value passes.

Validated on every load, so a typo in a currency, locale or time zone is an
error at the command that meets it rather than a broken page later.
"""

import hashlib
import json
import os
import re
import sys
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .cachefile import read_private, write_private
from .checks import clean_email, clean_line, clean_phone, has_control
from .errors import InvalidInput, SettingsError, quoted
from .layout import LANGUAGES
from .money import check_currency

if TYPE_CHECKING:
    from .pay_methods import PayMethod

_URL_RE = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?\Z")


DEFAULT_TIPS = (18, 20, 25)
_PUBLISH_RE = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/([A-Za-z0-9!_.*'()/-]*))?\Z")


@dataclass(frozen=True)
class ReminderSettings:
    """The ``[reminders]`` table of paylink.toml (CONTRACT §9): when and how `paylink remind` reminds."""

    every_days: int = 7
    max: int = 3
    after_days: int = 3
    email_from: str | None = None
    smtp: str | None = None

    def validated(self, business_email: str | None) -> "ReminderSettings":
        """Return these settings checked (``email_from`` defaults to the business's email), or raise SettingsError."""
        for key, low, high in (("every_days", 1, 365), ("max", 1, 100), ("after_days", 0, 365)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise SettingsError(
                    f"reminders.{key} {str(value)[:20]!r} is not a whole number from {low} to {high}"
                    f" — e.g. {key} = {getattr(ReminderSettings, key)}"
                )
        try:
            email_from = clean_email(self.email_from) if self.email_from is not None else None
        except InvalidInput as exc:
            raise SettingsError(f"reminders.email_from: {exc}") from exc
        smtp = check_smtp(self.smtp) if self.smtp else None
        if smtp and not (email_from or business_email):
            raise SettingsError(
                'reminders.email_from is missing — add email_from = "billing@example.com" under [reminders]'
            )
        return replace(self, email_from=email_from or business_email, smtp=smtp)


@dataclass(frozen=True)
class Settings:
    """The business's settings from paylink.toml (CONTRACT §1)."""

    name: str
    currency: str = "USD"
    locale: str = "en_US"
    language: str | None = None  # None: the locale's language where paylink has it, else English
    timezone: str = "UTC"
    base_url: str = "http://127.0.0.1:8000"
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    tips: tuple[int, ...] = DEFAULT_TIPS
    pay_instructions: str | None = None
    publish: str | None = None
    publish_endpoint: str | None = None
    reminders: ReminderSettings | None = None  # None: no [reminders] table, reminders off
    pay: tuple["PayMethod", ...] = ()  # the [[pay]] tables, in order (CONTRACT §8)

    def validated(self) -> "Settings":
        """Return these settings normalised (currency upper case, no trailing slash), or raise SettingsError."""
        for setting in fields(self):
            value = getattr(self, setting.name)
            if isinstance(value, str) and has_control(value.strip(" \t\r\n")):
                raise SettingsError(f"{setting.name} contains a control character — use one plain line")
        try:
            name = clean_line(self.name, "business name", 120)
            phone, email = clean_phone(self.phone), clean_email(self.email)
            address = clean_line(self.address, "address", 300, required=False) or None if self.address else None
            pay = (
                clean_line(self.pay_instructions, "pay_instructions", 500, required=False) or None
                if self.pay_instructions
                else None
            )
        except InvalidInput as exc:
            raise SettingsError(str(exc)) from exc
        currency = check_currency(self.currency)
        return replace(
            self,
            name=name,
            currency=currency,
            locale=check_locale(self.locale),
            language=check_language(self.language) if self.language else None,
            timezone=check_timezone(self.timezone),
            base_url=check_base_url(self.base_url),
            phone=phone,
            email=email,
            address=address,
            tips=check_tips(self.tips),
            pay_instructions=pay,
            publish=check_publish(self.publish) if self.publish else None,
            publish_endpoint=check_endpoint(self.publish_endpoint) if self.publish_endpoint else None,
            reminders=self.reminders.validated(email) if self.reminders is not None else None,
            pay=_checked_pay(self.pay, currency),
        )

    @property
    def page_language(self) -> str:
        """The language of pages and messages for a customer who has none of their own."""
        if self.language:
            return self.language
        own = self.locale.split("_")[0]
        return own if own in LANGUAGES else "en"

    @property
    def is_loopback(self) -> bool:
        """Whether links point at this machine only (the default base_url)."""
        from urllib.parse import urlsplit

        host = (urlsplit(self.base_url).hostname or "").lower()
        return host in ("localhost", "::1") or host.startswith("127.") or host.endswith(".localhost")

    def to_toml(self) -> str:
        """Return the settings as paylink.toml text."""
        lines = ["# paylink site settings — edit, then run `paylink build`"]
        for key, value in asdict(self).items():
            if value is None or key in ("reminders", "pay") or (key == "tips" and value == DEFAULT_TIPS):
                continue
            if isinstance(value, tuple):
                lines.append(f"{key} = [{', '.join(str(v) for v in value)}]")
            else:
                # A JSON string with ensure_ascii=False is a valid TOML basic string here:
                # clean_line has already refused the control characters TOML forbids raw.
                lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
        if self.reminders is not None:  # a table comes after every plain key
            lines.append("\n[reminders]")
            for key, value in asdict(self.reminders).items():
                if value is not None:
                    lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
        if self.pay:
            from .pay_methods import to_toml

            return "\n".join(lines) + "\n" + to_toml(self.pay)
        return "\n".join(lines) + "\n"


def load_settings(path: Path) -> Settings:
    """Read and validate ``paylink.toml``; every problem is a SettingsError naming the file."""
    import tomllib  # not needed when the settings cache is current

    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path} is not valid TOML ({exc}) — fix the file") from exc
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SettingsError(
            f"{path}: unknown setting {unknown[0][:80]!r} — the settings are {', '.join(sorted(known))}"
        )
    for key, value in raw.items():
        if key == "tips":
            if not isinstance(value, list):
                raise SettingsError(
                    f"{path}: tips must be a list of percentages, e.g. tips = [15, 20] (or [] for none)"
                )
            raw[key] = tuple(value)
        elif key == "reminders":
            raw[key] = _reminder_table(path, value)
        elif key == "pay":
            from .pay_methods import from_toml

            try:
                raw[key] = from_toml(value)
            except SettingsError as exc:
                raise SettingsError(f"{path}: {exc}") from exc
        elif not isinstance(value, str):
            raise SettingsError(f"{path}: {key} must be a quoted string")
    if "name" not in raw:
        raise SettingsError(f'{path}: name is missing — add name = "Your Business"')
    try:
        return Settings(**raw).validated()
    except SettingsError as exc:
        raise SettingsError(f"{path}: {exc}") from exc


def _reminder_table(path: Path, table) -> ReminderSettings:
    """The ``[reminders]`` table as ReminderSettings (values checked later, with the rest), or SettingsError."""
    if not isinstance(table, dict):
        raise SettingsError(f"{path}: reminders must be a table: a [reminders] line, then its settings")
    known = {f.name for f in fields(ReminderSettings)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise SettingsError(
            f"{path}: unknown setting reminders.{unknown[0][:80]} — the reminder settings are {', '.join(sorted(known))}"
        )
    for key, value in table.items():
        wanted = str if key in ("email_from", "smtp") else int
        if not isinstance(value, wanted) or isinstance(value, bool):
            kind = "a quoted string" if wanted is str else "a whole number"
            raise SettingsError(f"{path}: reminders.{key} must be {kind}")
    return ReminderSettings(**table)


def check_smtp(url: str) -> str:
    """Return an ``smtp://user@host:port`` or ``smtps://`` URL as given, or raise SettingsError.

    The password never goes in paylink.toml (a file that is backed up and read
    by others): it comes from ``PAYLINK_SMTP_PASSWORD`` only.
    """
    from urllib.parse import urlsplit

    text = url.strip()
    example = "e.g. smtp://billing@example.com@smtp.example.com:587"
    if has_control(text):
        raise SettingsError("reminders.smtp contains a control character — use one plain line")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise SettingsError(f"reminders.smtp is not an smtp:// or smtps:// address — {example}") from exc
    if parts.password is not None:
        raise SettingsError(
            "reminders.smtp holds a password — remove it from the URL and set the environment variable"
            " PAYLINK_SMTP_PASSWORD instead"
        )
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname or parts.path not in ("", "/") or parts.query:
        raise SettingsError(f"reminders.smtp {text[:80]!r} is not an smtp:// or smtps:// address — {example}")
    if port == 0:
        raise SettingsError(f"reminders.smtp {text[:80]!r} has no usable port — {example}")
    return text.rstrip("/")


# Bump when what the cache holds, or what validation accepts, changes.
_CACHE_VERSION = 3


def load_settings_cached(path: Path, cache_path: Path, save=None) -> Settings:
    """``load_settings``, skipping validation when ``cache_path`` holds this very file's validated settings.

    Validating goes through Babel (locale, currency) and zoneinfo, about 30 ms
    a command; the money formatter's probes cost 9 ms more. A valid
    paylink.toml's validated settings and formatting facts are kept in
    ``cache_path`` (mode 0600), keyed by the file's (mtime_ns, size, inode)
    and a SHA-256 of its bytes: any change to the file validates it again.
    Only a valid file is cached, so an invalid one is an error on every
    command; a cache that is unreadable, corrupt, loosened or another user's
    is ignored (and replaced). ``save(cache_path, cache)`` is called with a new
    cache instead of writing it at once (the CLI writes it only when the
    command succeeds: ``Error:`` means nothing was written, not even this).
    """
    from . import money

    try:
        with open(path, "rb") as file:
            info = os.fstat(file.fileno())
            data = file.read()
    except OSError:
        return load_settings(path)  # says what is wrong with the file
    key = [_CACHE_VERSION, sys.version, info.st_mtime_ns, info.st_size, info.st_ino, hashlib.sha256(data).hexdigest()]
    cached = _read_cache(cache_path, key)
    if cached is not None:
        settings, facts = cached
        money.prime(settings.currency, settings.locale, facts)
        return settings
    settings = load_settings(path)
    facts = money.formatting_facts(settings.currency, settings.locale)
    money.prime(settings.currency, settings.locale, facts)
    values = asdict(settings)
    values["pay"] = [[m.method, [list(d) for d in m.details]] for m in settings.pay]
    (save or write_cache)(cache_path, {"key": key, "settings": values, "money": facts})
    return settings


def _read_cache(cache_path: Path, key: list) -> tuple[Settings, dict] | None:
    """The cached settings and money facts if the cache is ours, private, intact and for this key; else None."""
    data = read_private(cache_path, 65536)
    if data is None:
        return None
    try:
        cache = json.loads(data)
        if cache["key"] != key:
            return None
        values = cache["settings"]
        if set(values) != {f.name for f in fields(Settings)}:
            return None
        for name, value in values.items():
            if name == "tips":
                if not isinstance(value, list) or not all(type(v) is int for v in value):
                    return None
            elif name == "reminders":
                if value is not None and not isinstance(value, dict):
                    return None
            elif name == "pay":
                values["pay"] = _cached_pay(value)
                if values["pay"] is None:
                    return None
            elif not (value is None or isinstance(value, str)):
                return None
        values["tips"] = tuple(values["tips"])
        if values["reminders"] is not None:
            values["reminders"] = ReminderSettings(**values["reminders"])
        facts = cache["money"]
        if not isinstance(facts, dict) or type(facts.get("digits")) is not int:
            return None
        if facts.get("fast"):
            (a, b), (c, d) = facts["affixes"]
            if not all(isinstance(x, str) for x in (a, b, c, d, facts["group"], facts["decimal"])):
                return None
            if not all(type(facts[k]) is int and facts[k] > 0 for k in ("primary", "secondary")):
                return None
        return Settings(**values), facts
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _checked_pay(methods, currency: str) -> tuple["PayMethod", ...]:
    """The [[pay]] methods checked (pay_methods.check_pay); a site without any never imports that module."""
    if not methods:
        return ()
    from .pay_methods import check_pay

    return check_pay(methods, currency)


def _cached_pay(value) -> tuple["PayMethod", ...] | None:
    """The [[pay]] methods as the cache holds them (validated when the cache was written), or None if malformed."""
    if not isinstance(value, list):
        return None
    if not value:
        return ()
    from .pay_methods import PayMethod

    methods = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], list)):
            return None
        details = item[1]
        if not all(isinstance(d, list) and len(d) == 2 and all(isinstance(x, str) for x in d) for d in details):
            return None
        methods.append(PayMethod(item[0], tuple((k, v) for k, v in details)))
    return tuple(methods)


def write_cache(cache_path: Path, cache: dict) -> None:
    """Write the cache atomically, mode 0600; a folder we may not write in just means no cache."""
    write_private(cache_path, json.dumps(cache, ensure_ascii=False).encode("utf-8"))


def check_tips(tips) -> tuple[int, ...]:
    """Return the tip percentages (distinct integers 1–100, in the order given), or raise SettingsError."""
    values = tuple(tips)
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
            raise SettingsError(
                f"tip {str(value)[:20]!r} is not a whole percentage from 1 to 100 — e.g. tips = [15, 20]"
            )
    if len(set(values)) != len(values):
        raise SettingsError("tips lists a percentage twice — give each once, e.g. tips = [15, 20]")
    return values


def check_language(language: str) -> str:
    """Return a language paylink has pages in (``en``, ``es``), or raise SettingsError."""
    code = language.strip().replace("-", "_").split("_")[0].lower()
    if code not in LANGUAGES:
        raise SettingsError(f"language {language[:80]!r} is not one paylink has — use one of {', '.join(LANGUAGES)}")
    return code


def check_publish(target: str) -> str:
    """Return an ``s3://BUCKET/PREFIX`` target without a trailing slash, or raise SettingsError."""
    text = target.strip().rstrip("/")
    if not _PUBLISH_RE.match(text):
        raise SettingsError(
            f"publish {target[:80]!r} is not an s3://BUCKET/PREFIX address — e.g. s3://my-bucket/paylink"
        )
    return text


def check_locale(locale: str) -> str:
    """Return the locale in Babel's form (``en_US``), or raise SettingsError."""
    from babel import Locale, UnknownLocaleError

    try:
        return str(Locale.parse(locale.strip().replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise SettingsError(f"unknown locale {quoted(locale)} — use a code such as en_US, de_DE or ja_JP") from exc


def check_timezone(timezone: str) -> str:
    """Return the IANA time zone name, or raise SettingsError."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = timezone.strip()
    try:
        if not name or name.startswith(("/", ".")):
            raise ValueError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise SettingsError(
            f"unknown time zone {quoted(timezone)} — use an IANA name such as America/New_York or Europe/Berlin"
        ) from exc
    return name


def check_base_url(url: str, what: str = "base URL") -> str:
    """Return the URL without a trailing slash, or raise SettingsError."""
    text = url.strip().rstrip("/")
    if not _URL_RE.match(text):
        raise SettingsError(f"{what} {url[:80]!r} is not an http(s) address — use one like https://pay.example.com")
    return text


_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s]*@")


def without_userinfo(url: str) -> str:
    """``url`` without a user name and password (``http://user:pass@host`` -> ``http://host``)."""
    return _USERINFO_RE.sub(r"\1", url)


def hide_userinfo(text: str, url: str | None = None) -> str:
    """``text`` with every URL's user name and password taken out, and those of ``url`` wherever they appear.

    An endpoint's credentials never reach a message (CONTRACT §7).
    """
    text = without_userinfo(text)
    if url:
        match = _USERINFO_RE.match(url.strip())
        if match:
            userinfo = url.strip()[len(match.group(1)) : match.end() - 1]
            for secret in sorted({userinfo, *userinfo.split(":", 1)}, key=len, reverse=True):
                if len(secret) >= 3:
                    text = text.replace(secret, "***")
    return text


def check_endpoint(url: str) -> str:
    """Return the publish endpoint without a trailing slash, or raise SettingsError (never quoting a password)."""
    text = url.strip().rstrip("/")
    if not _URL_RE.match(without_userinfo(text)):
        shown = hide_userinfo(url, url)[:80]
        raise SettingsError(
            f"publish_endpoint {shown!r} is not an http(s) address — use one like https://ACCOUNT.r2.cloudflarestorage.com"
        )
    return text
