"""The renderer: a customer's ledger in, the page's HTML out (a string; it writes nothing).

Numbers and dates arrive in the templates already formatted for the site's
locale and time zone; templates hold markup only. Autoescape is on for every
``.html`` template, and a site may override any template or asset by putting a
file of the same name in ``<site>/site_templates/``.
"""

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

from . import layout
from .model import Entry, state_of
from .money import format_money, tip_minor
from .settings import Settings

TIP_PERCENTS = (0, 18, 20, 25)
ASSET_FILES = ("paylink.css", "tips.js", "favicon.svg")
# What counts as a template when deciding whether every page must be re-rendered.
TEMPLATE_SUFFIXES = {".html", ".css", ".js", ".svg", ".txt"}


def builtin_templates_dir() -> Path:
    """The templates that ship with paylink."""
    # Installed as paylink.site_templates (package-dir); mypy reads the repo's folders, where it is a sibling.
    from . import site_templates  # type: ignore[attr-defined]

    return Path(site_templates.__file__).parent


@dataclass(frozen=True)
class Statement:
    """What one customer's page shows: read from the ledger, not yet formatted."""

    customer_name: str
    balance_minor: int
    entries: list[Entry]
    last_change: str  # ISO 8601 UTC


# What the templates see. Named tuples rather than dicts: Jinja tries attribute
# access first, and a dict makes it fail and retry for every field of every row.


class Business(NamedTuple):
    name: str
    phone: str | None
    email: str | None
    phone_href: str | None
    email_href: str | None


class Moment(NamedTuple):
    text: str
    iso: str


class EntryLine(NamedTuple):
    date: str
    date_iso: str
    description: str
    amount: str
    kind: str


class TipChoice(NamedTuple):
    percent: int
    label: str
    amount: str
    total: str
    total_minor: int
    checked: bool


class Renderer:
    """Renders a site's pages with its settings and templates."""

    def __init__(self, settings: Settings, override_dir: Path | None = None):
        self.settings = settings
        self.template_dirs = [d for d in (override_dir, builtin_templates_dir()) if d is not None and d.is_dir()]
        self.zone = ZoneInfo(settings.timezone)
        self._entry_dates: dict[str, tuple[str, str]] = {}

    # --- templates and assets -------------------------------------------------

    @cached_property
    def env(self):
        from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

        return Environment(
            loader=FileSystemLoader([str(d) for d in self.template_dirs]),
            autoescape=select_autoescape(["html"], default_for_string=True, default=True),
            undefined=StrictUndefined,
            # A renderer lives for one run; `watch` makes a new one per build. Not
            # re-checking every template file's mtime on each page saves 4 stats a page.
            auto_reload=False,
            keep_trailing_newline=True,
        )

    def source(self, name: str) -> bytes:
        """Return the bytes of a template or asset file, the site's own first."""
        for folder in self.template_dirs:
            path = folder / name
            if path.is_file():
                return path.read_bytes()
        raise FileNotFoundError(f"template {name} not found in {', '.join(map(str, self.template_dirs))}")

    @cached_property
    def assets(self) -> dict[str, bytes]:
        """Content-hashed asset file names (inside ``assets/``) and their bytes."""
        named = {}
        for file_name in ASSET_FILES:
            data = self.source(file_name)
            named[layout.asset_name(file_name, data)] = data
        return named

    @cached_property
    def asset_urls(self) -> dict[str, str]:
        urls = {}
        for hashed in self.assets:
            key = {"css": "css", "js": "js", "svg": "icon"}[hashed.rpartition(".")[2]]
            urls[key] = f"/{layout.ASSETS_DIR}/{hashed}"
        return urls

    @cached_property
    def fingerprint(self) -> str:
        """A digest of everything that shapes every page: templates, assets and settings."""
        from . import __version__

        digest = hashlib.sha256(__version__.encode())
        digest.update(repr(sorted(vars(self.settings).items())).encode())
        for folder in self.template_dirs:
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.suffix in TEMPLATE_SUFFIXES:
                    digest.update(f"{path}\0".encode() + path.read_bytes() + b"\0")
        return digest.hexdigest()

    # --- pages ----------------------------------------------------------------

    @cached_property
    def _common(self) -> dict:
        s = self.settings
        return {
            "lang": s.locale.replace("_", "-"),
            "business": Business(
                name=s.name,
                phone=s.phone,
                email=s.email,
                phone_href="tel:" + re.sub(r"[^0-9+]", "", s.phone) if s.phone else None,
                email_href=f"mailto:{s.email}" if s.email else None,
            ),
            "assets": self.asset_urls,
        }

    def page(self, statement: Statement) -> str:
        """Return the HTML of a customer's page."""
        s = self.settings
        balance = statement.balance_minor
        state = state_of(balance)
        money = lambda minor: format_money(minor, s.currency, s.locale)  # noqa: E731
        tips = []
        if state == "outstanding":
            for percent in TIP_PERCENTS:
                tip = tip_minor(balance, percent)
                tips.append(
                    TipChoice(
                        percent=percent,
                        label="No tip" if percent == 0 else f"{percent}%",
                        amount=money(tip),
                        total=money(balance + tip),
                        total_minor=balance + tip,
                        checked=percent == 0,
                    )
                )
        context = {
            **self._common,
            "customer": {"name": statement.customer_name},  # one field, read once
            "state": state,
            "balance": money(abs(balance)),
            "total": money(balance) if state == "outstanding" else money(0),
            "tips": tips,
            "entries": [self._entry(e, money) for e in statement.entries],
            "as_of": self._moment(statement.last_change),
        }
        return self.env.get_template("page.html").render(context)

    def gone_page(self) -> str:
        """Return the 410 page: the link was replaced or turned off."""
        return self.env.get_template("gone.html").render(self._common)

    def not_found_page(self) -> str:
        """Return the 404 page."""
        return self.env.get_template("not_found.html").render(self._common)

    def robots(self) -> str:
        """Return robots.txt."""
        return self.source("robots.txt").decode("utf-8")

    # --- formatting -----------------------------------------------------------

    def _entry(self, entry: Entry, money) -> EntryLine:
        date_text, date_iso = self._entry_date(entry.posted_at)
        return EntryLine(
            date=date_text,
            date_iso=date_iso,
            description=entry.description,
            amount=money(entry.amount_minor),
            kind="charge" if entry.amount_minor > 0 else "credit",
        )

    def _entry_date(self, posted_at: str) -> tuple[str, str]:
        """The entry's local date, formatted and as ISO, or the raw text if it is not a time.

        Cached on this renderer (entries share dates), never on the class: an
        ``lru_cache`` on a method would keep every renderer alive, and ``watch``
        makes a new one per change.
        """
        cached = self._entry_dates.get(posted_at)
        if cached is not None:
            return cached
        moment = parse_utc(posted_at)
        if moment is None:
            result = (posted_at, "")
        else:
            local = moment.astimezone(self.zone).date()
            result = (_format_date(local, self.settings.locale), local.isoformat())
        if len(self._entry_dates) >= 8192:
            self._entry_dates.clear()
        self._entry_dates[posted_at] = result
        return result

    def _moment(self, posted_at: str) -> Moment:
        moment = parse_utc(posted_at)
        if moment is None:
            return Moment(text=posted_at, iso="")
        local = moment.astimezone(self.zone)
        return Moment(text=_format_moment(local, self.settings.locale), iso=local.isoformat())


def parse_utc(text: str) -> dt.datetime | None:
    """Parse an ISO 8601 time written by paylink or another program; naive means UTC."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@lru_cache(maxsize=4096)
def _format_date(day: dt.date, locale: str) -> str:
    from babel.dates import format_date

    return format_date(day, "medium", locale=locale)


def _format_moment(local: dt.datetime, locale: str) -> str:
    """ "Nov 24, 2026, 3:05 PM CST": the locale's medium date, short time and zone abbreviation.

    Built from pieces cached by date, by minute of the day and by offset, since
    Babel takes ~30 µs to format one whole moment.
    """
    joined = _datetime_pattern(locale)
    text = joined.replace("{1}", _format_date(local.date(), locale)).replace(
        "{0}", _format_time(local.hour, local.minute, locale)
    )
    return f"{text} {_format_zone(local, locale)}"


@lru_cache(maxsize=64)
def _datetime_pattern(locale: str) -> str:
    from babel.dates import get_datetime_format

    return str(get_datetime_format("medium", locale=locale))


@lru_cache(maxsize=4096)
def _format_time(hour: int, minute: int, locale: str) -> str:
    from babel.dates import format_time

    return format_time(dt.time(hour, minute), "short", locale=locale)


_zone_names: dict[tuple, str] = {}


def _format_zone(local: dt.datetime, locale: str) -> str:
    """The zone's short name ("CST"), looked up once per zone, offset and daylight-saving state."""
    key = (local.tzinfo, local.utcoffset(), local.dst(), locale)
    name = _zone_names.get(key)
    if name is None:
        from babel.dates import format_datetime

        name = _zone_names[key] = format_datetime(local, "z", tzinfo=local.tzinfo, locale=locale)
    return name
