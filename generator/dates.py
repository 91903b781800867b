"""Dates and times as a page writes them: a locale's medium date, short time and zone name.

Babel formats them the first time; a locale's patterns can also be learnt from
Babel once (``date_facts``), proven equal to it on probes, and kept as plain data
in the page cache (page_cache.py), so a command whose cache is current formats
dates without importing Babel (``prime_dates``).
"""

import datetime as dt
import re
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo


class Moment(NamedTuple):
    """A moment as a page shows it: its text and its ISO 8601 form (for ``<time datetime>``)."""

    text: str
    iso: str


class LocalDates:
    """How one language's pages write dates: in the site's time zone, for that language's locale.

    Entries share dates, so each is formatted once per run (cached here, on the
    object: an ``lru_cache`` on a method would keep every renderer alive).
    """

    def __init__(self, locale: str, timezone: str):
        self.locale = locale
        self.zone = ZoneInfo(timezone)
        self.utc = timezone in ("UTC", "Etc/UTC")
        self.entry_dates: dict[str, tuple[str, str]] = {}

    def entry_date(self, posted_at: str) -> tuple[str, str]:
        """An entry's local date, formatted and as ISO, or the raw text (and "") if it is not a time."""
        cache = self.entry_dates
        # On a UTC site, paylink's own form "2025-01-15T10:00:00Z" is on its UTC day: cached by day.
        key = (
            posted_at[:10]
            if self.utc and len(posted_at) == 20 and posted_at[10] == "T" and posted_at[19] == "Z"
            else posted_at
        )
        cached = cache.get(key)
        if cached is not None:
            return cached
        moment = parse_utc(posted_at)
        if moment is None:
            result = (posted_at, "")
        else:
            local = moment.astimezone(self.zone).date()
            result = (_format_date(local, self.locale), local.isoformat())
        if len(cache) >= 8192:
            cache.clear()
        cache[key] = result
        return result

    def entry_dates_of(self, times: list[str]) -> list[tuple[str, str]]:
        """``entry_date`` of each time (a page's rows: one call a page, not one a row)."""
        cache = self.entry_dates
        utc = self.utc
        found = []
        for posted_at in times:
            # As entry_date: on a UTC site, paylink's own "...T10:00:00Z" form is cached by day.
            cached = cache.get(
                posted_at[:10]
                if utc and len(posted_at) == 20 and posted_at[10] == "T" and posted_at[19] == "Z"
                else posted_at
            )
            found.append(cached if cached is not None else self.entry_date(posted_at))
        return found

    def moment(self, posted_at: str) -> Moment:
        """A moment ("Nov 24, 2026, 3:05 PM CST") in the site's time zone, or the raw text if it is not a time."""
        moment = parse_utc(posted_at)
        if moment is None:
            return Moment(text=posted_at, iso="")
        local = moment.astimezone(self.zone)
        return Moment(text=_format_moment(local, self.locale), iso=local.isoformat())


def parse_utc(text: str) -> dt.datetime | None:
    """Parse an ISO 8601 time written by paylink or another program; naive means UTC."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@lru_cache(maxsize=4096)
def _format_date(day: dt.date, locale: str) -> str:
    learnt = _DATE_FORMATS.get(locale)
    if learnt is not None:
        return learnt.date(day)
    from babel.dates import format_date

    return format_date(day, "medium", locale=locale)


def _format_moment(local: dt.datetime, locale: str) -> str:
    """ "Nov 24, 2026, 3:05 PM CST": the locale's medium date, short time and zone abbreviation.

    Built from pieces cached by date, by minute of the day and by offset, since
    Babel takes ~30 µs to format one whole moment.
    """
    learnt = _DATE_FORMATS.get(locale)
    joined = learnt.joined if learnt is not None else _datetime_pattern(locale)
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
    learnt = _DATE_FORMATS.get(locale)
    if learnt is not None:
        return learnt.time(hour, minute)
    from babel.dates import format_time

    return format_time(dt.time(hour, minute), "short", locale=locale)


_zone_names: dict[tuple, str] = {}


def _format_zone(local: dt.datetime, locale: str) -> str:
    """The zone's short name ("CST"), looked up once per zone, offset and daylight-saving state."""
    key = (local.tzinfo, local.utcoffset(), local.dst(), locale)
    name = _zone_names.get(key)
    if name is None:
        learnt = _DATE_FORMATS.get(locale)
        if learnt is not None:
            name = learnt.zone(local)
        if name is None:
            from babel.dates import format_datetime

            name = format_datetime(local, "z", tzinfo=local.tzinfo, locale=locale)
        _zone_names[key] = name
    return name


# --- dates without Babel ---------------------------------------------------------------
#
# Like money (money.formatting_facts), a locale's medium date, short time and zone names are
# learnt from Babel once, proven equal to Babel on probes, and kept as plain data in the page
# cache (page_cache.py): a command whose cache is current formats dates without importing Babel.

_DATE_FORMATS: dict[str, "_LearntDates"] = {}
_PATTERN_PART = re.compile(r"'(?:[^']|'')*'|([A-Za-z])\1*|[^'A-Za-z]+")
# The fields a learnt format may hold; names (months, day periods) are taken from Babel.
_DATE_FIELDS, _TIME_FIELDS = set("yMLd"), set("hHKkma")
# Zone names are proven for moments in these years only; others ask Babel.
ZONE_YEARS = (2015, 2041)


def _pattern_parts(pattern: str, allowed: set[str]) -> list[list] | None:
    """A CLDR pattern as [["", literal] or [letter, width], ...], or None if it holds a field not in ``allowed``."""
    parts: list[list] = []
    for match in _PATTERN_PART.finditer(pattern):
        token = match.group(0)
        if match.group(1):
            if token[0] not in allowed or len(token) > 4:
                return None
            parts.append([token[0], len(token)])
        elif token.startswith("'"):
            parts.append(["", "'" if token == "''" else token[1:-1].replace("''", "'")])
        else:
            parts.append(["", token])
    return parts


def date_facts(locale: str, timezone: str) -> dict:
    """Learn how ``locale`` writes a medium date, a short time and ``timezone``'s names: plain JSON data.

    The patterns come from Babel, the month and day-period names from Babel
    formatting each alone; the result is then compared with Babel's own output
    on probes (every month and day length of three years, every hour, the
    zone's states over ZONE_YEARS). Unless every probe agrees, the facts say
    ``"fast": False`` and Babel formats every date.
    """
    from babel.dates import format_date, format_datetime, format_time, get_date_format, get_time_format

    facts: dict = {"fast": False}
    date_parts = _pattern_parts(get_date_format("medium", locale=locale).pattern, _DATE_FIELDS)
    time_parts = _pattern_parts(get_time_format("short", locale=locale).pattern, _TIME_FIELDS)
    if date_parts is None or time_parts is None:
        return facts
    names: dict[str, list[str]] = {}
    for letter, width in date_parts:
        if letter in ("M", "L") and width >= 3:
            field = letter * width
            names[field] = [format_date(dt.date(2001, m, 15), field, locale=locale) for m in range(1, 13)]
    for letter, width in time_parts:
        if letter == "a":
            field = "a" * width
            names[field] = [format_time(dt.time(h, 0), field, locale=locale) for h in (1, 13)]
    zone = ZoneInfo(timezone)
    zones: dict[str, str] = {}
    facts.update(date=date_parts, time=time_parts, names=names, joined=_datetime_pattern(locale), zone=timezone)
    learnt = _LearntDates(facts)
    for year in (2000, 2026, 2099):
        for month in range(1, 13):
            last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
            for day in (1, 9, 10, 28, last):
                probe = dt.date(year, month, day)
                if learnt.date(probe) != format_date(probe, "medium", locale=locale):
                    return {"fast": False}
    for hour in range(24):
        for minute in (0, 5, 10, 59):
            if learnt.time(hour, minute) != format_time(dt.time(hour, minute), "short", locale=locale):
                return {"fast": False}
    for year in range(*ZONE_YEARS):
        for month in range(1, 13):
            for day in (1, 15):
                local = dt.datetime(year, month, day, 12, tzinfo=dt.UTC).astimezone(zone)
                name = format_datetime(local, "z", tzinfo=local.tzinfo, locale=locale)
                key = _zone_key(local)
                if zones.setdefault(key, name) != name:
                    zones[key] = ""  # not one name for this state: Babel decides
    facts["zones"] = {k: v for k, v in zones.items() if v}
    facts["fast"] = True
    return facts


def prime_dates(locale: str, facts: dict) -> None:
    """Format ``locale``'s dates from facts ``date_facts`` learnt (kept in the page cache); no-op unless fast."""
    if facts.get("fast") and locale not in _DATE_FORMATS:
        _DATE_FORMATS[locale] = _LearntDates(facts)


def _zone_key(local: dt.datetime) -> str:
    offset, dst = local.utcoffset(), local.dst()
    return f"{offset.total_seconds() if offset is not None else ''}|{dst.total_seconds() if dst is not None else ''}"


class _LearntDates:
    """A locale's date and time formats, from ``date_facts``."""

    def __init__(self, facts: dict):
        self.date_parts = facts["date"]
        self.time_parts = facts["time"]
        self.names = facts["names"]
        self.joined = facts["joined"]
        self.zone_name = facts["zone"]
        self.zones = facts.get("zones", {})

    def date(self, day: dt.date) -> str:
        out = []
        for letter, width in self.date_parts:
            if letter == "":
                out.append(width)
            elif letter == "y":
                out.append(f"{day.year % 100:02d}" if width == 2 else f"{day.year:0{width}d}")
            elif letter == "d":
                out.append(f"{day.day:0{width}d}")
            elif width <= 2:  # M, L
                out.append(f"{day.month:0{width}d}")
            else:
                out.append(self.names[letter * width][day.month - 1])
        return "".join(out)

    def time(self, hour: int, minute: int) -> str:
        out = []
        for letter, width in self.time_parts:
            if letter == "":
                out.append(width)
            elif letter == "m":
                out.append(f"{minute:0{width}d}")
            elif letter == "a":
                out.append(self.names["a" * width][hour >= 12])
            else:
                value = {"H": hour, "h": hour % 12 or 12, "K": hour % 12, "k": hour or 24}[letter]
                out.append(f"{value:0{width}d}")
        return "".join(out)

    def zone(self, local: dt.datetime) -> str | None:
        """The zone's short name as Babel writes it, or None if not proven for this moment."""
        if getattr(local.tzinfo, "key", None) != self.zone_name or not ZONE_YEARS[0] <= local.year < ZONE_YEARS[1]:
            return None
        return self.zones.get(_zone_key(local))
