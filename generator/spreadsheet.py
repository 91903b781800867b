"""What a spreadsheet writes when it saves a CSV, read back exactly.

Excel, LibreOffice and Numbers save UTF-8 with or without a byte order mark,
CRLF line ends, commas or (where the decimal sign is a comma) semicolons,
headers as the owner typed them, and amounts and dates as the cells show them:
``$1,200.00`` and ``11/20/2026`` on an American machine, ``1.200,50 €`` and
``20.11.2026`` on a German one. This module turns those back into what the
ledger holds (int minor units, ISO dates) with Babel's data for the site's
locale and currency, and refuses anything it cannot read one way only.

The plain forms (``12.50``, ``2026-11-20``) are tried first and cost one regular
expression; Babel is asked only when they do not match, and every distinct
text is parsed once per import (an import repeats amounts and dates a lot).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import operator
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

from .errors import ImportFailed, InvalidAmount, InvalidInput, NegativeAmount, quoted
from .ledger import parse_posting_date
from .money import MAX_MAJOR_UNITS, minor_digits, parse_amount

_PLAIN_AMOUNT_RE = re.compile(r"[0-9]+(?:\.([0-9]+))?\Z")
_ISO_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
# What the ledger stores and its entries_refuse_bad_time trigger accepts (a bulk import sets it aside).
_POSTED_AT_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\Z")
_SPACES = str.maketrans({"\xa0": " ", "\u202f": " ", "\u2007": " ", "\t": " "})
_APOSTROPHES = {"'", "\u2019"}
_CACHE_LIMIT = 100_000  # distinct texts remembered per import; beyond that each is parsed again


# --- the file ---------------------------------------------------------------------


@dataclass
class Table:
    """A CSV file opened for import: its header mapped to our column names, and its rows.

    ``ignored`` names the header's columns that are not ours (in file order),
    so the caller can tell the owner they were left out.
    """

    name: str
    data: bytes
    columns: list[str | None]
    ignored: list[str]
    delimiter: str

    def records(self, wanted: tuple[str, ...]) -> Iterator[tuple[int, tuple[Any, ...] | str]]:
        """``rows`` as tuples of the ``wanted`` columns' values, in that order (None for a column the file lacks).

        The fast path of a large import: one generator straight over the CSV
        reader, no dict per row, the blank-row test only when a row's first
        cell is blank.
        """
        width = len(self.columns)
        at = {name: i for i, name in enumerate(self.columns) if name is not None}
        lacking = any(name not in at for name in wanted)
        # A column the file lacks reads the None appended to each row's (fresh) list.
        indexes = [at.get(name, width) for name in wanted]
        pick = operator.itemgetter(*indexes) if len(indexes) > 1 else (lambda row: (row[indexes[0]],))
        with io.TextIOWrapper(io.BytesIO(self.data), encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            try:
                next(reader)  # the header, read by open_table
            except (StopIteration, csv.Error):
                return
            line = reader.line_num + 1  # where the next row starts (a quoted cell may span lines)
            try:
                for values in reader:
                    start, line = line, reader.line_num + 1
                    if len(values) != width or not values[0].strip():
                        if not "".join(values).strip():
                            continue
                        if len(values) != width:
                            yield start, self._width_problem(len(values))
                            continue
                    if lacking:
                        values.append(None)  # type: ignore[arg-type]  # the sentinel of a lacking column
                    yield start, pick(values)
            except csv.Error as exc:
                # The reader cannot say where the next row starts: stop here.
                yield line, _unreadable(exc)

    def rows(self) -> Iterator[tuple[int, dict[str | None, str] | str]]:
        """Yield (line number, {column: value}) for each row, or (line number, problem) for an unreadable one.

        Blank lines (also a row of empty cells, which spreadsheets write for
        formatted but empty rows) are skipped. Read line by line from the bytes:
        a StringIO of the text would hold up to 4 bytes a character.
        """
        columns = self.columns
        for line, values in self._lists():
            # Ignored columns all land under None, which no reader asks for.
            yield line, values if isinstance(values, str) else dict(zip(columns, values, strict=True))

    def _lists(self) -> Iterator[tuple[int, list[str] | str]]:
        """Yield (line number, the row's values) for each row of the header's width, else (line number, problem)."""
        width = len(self.columns)
        with io.TextIOWrapper(io.BytesIO(self.data), encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            try:
                next(reader)  # the header, read by open_table
            except (StopIteration, csv.Error):
                return
            while True:
                line = reader.line_num + 1  # where the row starts (a quoted cell may span lines)
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    # The reader cannot say where the next row starts: stop here.
                    yield line, _unreadable(exc)
                    return
                if not "".join(values).strip():
                    continue
                if len(values) != width:
                    yield line, self._width_problem(len(values))
                    continue
                yield line, values

    def _width_problem(self, count: int) -> str:
        return (
            f"{count} values for {len(self.columns)} columns — check the "
            f"{'semicolons' if self.delimiter == ';' else 'commas'} and quotes"
        )


def _unreadable(exc: csv.Error) -> str:
    return f"not readable CSV ({exc}) — check the quotes, save the file as UTF-8 CSV"


def open_table(
    path: Path,
    columns: tuple[str, ...],
    required: tuple[str, ...],
    aliases: Mapping[str, str] | None = None,
    local_header: str | None = None,
) -> Table:
    """Read a CSV file's bytes and header, or raise ImportFailed naming what is wrong with the file as a whole.

    The header's names match ``columns`` (or a name ``aliases`` maps to one of
    them: the site's language) in any case, order and surrounding spaces, and
    without regard to accents; other names are ignored (and listed in
    ``Table.ignored``). The separator is a semicolon when the header has more
    semicolons than commas. ``local_header`` (the header in the site's
    language) is shown beside the English one when a column is missing.
    """
    aliases = aliases or {}
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFailed(f"Cannot read {path}: {exc.strerror} — check the file name") from exc
    body = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    try:
        # Checked whole, so a byte that is not UTF-8 is named on its own line (a
        # streaming decoder fails a whole buffer at once, wherever the reader is).
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise ImportFailed(
            f"{name} line {line}: byte {body[exc.start]:#04x} is not UTF-8 text — save the file as UTF-8 CSV"
        ) from exc
    first_line = body.split(b"\n", 1)[0].decode("utf-8")
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    try:
        header = next(csv.reader(io.StringIO(first_line.rstrip("\r")), delimiter=delimiter), None)
    except csv.Error as exc:
        raise ImportFailed(f"{name} line 1: not readable CSV ({exc}) — save the file as UTF-8 CSV") from exc
    if not body.strip() or not header:
        raise ImportFailed(f"{name} is empty — the first line must be the header {_header_hint(columns, required)}")
    mapped: list[str | None] = []
    ignored: list[str] = []
    for cell in header:
        key = header_key(cell)
        key = aliases.get(key, key)
        if key in columns:
            if key in mapped:
                raise ImportFailed(
                    f"{name} line 1: the header must be {_header_hint(columns, required)} "
                    f"(column {key!r} appears twice) — keep one of them"
                )
            mapped.append(key)
        else:
            mapped.append(None)
            if cell.strip():
                ignored.append(cell.strip())
    missing = [c for c in required if c not in mapped]
    if missing:
        raise ImportFailed(
            f"{name} line 1: the header must be {_header_hint(columns, required)}"
            + (f" or {local_header}" if local_header else "")
            + f" (missing column {missing[0]!r})"
            + _optional_hint(columns, required)
        )
    return Table(name, data, mapped, ignored, delimiter)


def header_key(text: str) -> str:
    """A header name or a ``kind`` as compared: no surrounding spaces, any case, no accents ("Descripción" -> "descripcion")."""
    folded = text.strip().casefold()
    if folded.isascii():
        return folded
    return "".join(c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c))


def _header_hint(columns: tuple[str, ...], required: tuple[str, ...]) -> str:
    # The five entry columns, or the four customer ones: what the README shows.
    shown = [c for c in columns if c in required or c in ("email", "phone", "ref", "date")]
    return ",".join(shown)


def _optional_hint(columns: tuple[str, ...], required: tuple[str, ...]) -> str:
    extra = [c for c in columns if c not in _header_hint(columns, required).split(",")]
    return (
        f" — add it to the first line ({', '.join(extra)} may be added too)" if extra else " — add it to the first line"
    )


# --- amounts and dates --------------------------------------------------------------


class CellReader:
    """Reads amounts and dates as a spreadsheet on the site's locale writes them.

    One per import: it learns the locale's signs and short-date pattern once
    and remembers each distinct text it has read.
    """

    def __init__(self, currency: str, locale: str, timezone: str, now: dt.datetime | None = None):
        self.currency = currency
        self.site_locale = locale
        self.digits = minor_digits(currency)
        self.timezone = timezone
        self.now = now or dt.datetime.now(dt.UTC)
        # Each distinct text read so far (up to _CACHE_LIMIT): the import looks here before calling.
        self.amounts_read: dict[str, int] = {}
        self.dates_read: dict[str, str] = {}

    # The locale's signs and short date, learnt from Babel only when a text is not in the plain
    # form (``12.50``, ``2026-11-20``): a posting command with a plain amount never imports Babel.

    @cached_property
    def locale(self) -> str:
        from babel import Locale

        return str(Locale.parse(self.site_locale))

    @cached_property
    def babel_group(self) -> str:
        from babel.numbers import get_group_symbol

        return get_group_symbol(self.locale)

    @cached_property
    def group(self) -> str:
        return self.babel_group.translate(_SPACES)

    @cached_property
    def decimal(self) -> str:
        from babel.numbers import get_decimal_symbol

        return get_decimal_symbol(self.locale)

    @cached_property
    def currency_marks(self) -> list[str]:
        """The currency's code, the locale's symbol and the common one ("¥" where ja_JP writes "￥"),
        longest first so that "MX$" is taken whole before "$" could be."""
        from babel.numbers import get_currency_symbol

        symbols = {get_currency_symbol(self.currency, self.locale), get_currency_symbol(self.currency, "en")}
        marks = {self.currency} | {s.translate(_SPACES).strip() for s in symbols}
        return sorted(marks - {""}, key=len, reverse=True)

    @cached_property
    def short_date(self) -> _ShortDate:
        from babel.dates import get_date_format

        return _ShortDate(get_date_format("short", locale=self.locale).pattern)

    # amounts

    def amount(self, text: str) -> int:
        """Return a positive amount in minor units, or raise InvalidAmount."""
        minor = self.amounts_read.get(text)
        if minor is None:
            minor = self._amount(text)
            if len(self.amounts_read) < _CACHE_LIMIT:
                self.amounts_read[text] = minor
        return minor

    def _amount(self, text: str) -> int:
        raw = text.strip()
        if self._is_plain(raw):
            return parse_amount(raw, self.currency)
        bare = self._without_currency(raw.translate(_SPACES).strip())
        if self._is_plain(bare):
            return self._minor(Decimal(bare), text)
        if "-" in bare or "−" in bare or bare.startswith("("):
            raise NegativeAmount(
                f"amount {quoted(text)} is not a decimal number above zero — write the amount without a sign; "
                "kind credit takes money off"
            )
        if self._foreign_currency(bare):
            raise InvalidAmount(
                f"amount {quoted(text)} is not in {self.currency} — this site's amounts are in {self.currency}"
            )
        number = self._locale_decimal(bare)
        if number is None:
            example = self._example()
            raise InvalidAmount(f"amount {quoted(text)} is not a decimal number — write it like 12.50 or {example}")
        return self._minor(number, text)

    def _is_plain(self, text: str) -> bool:
        """``12`` or ``12.50``; where ``.`` groups thousands (de_DE), ``1.200`` is not plain but 1200."""
        match = _PLAIN_AMOUNT_RE.match(text)
        if match is None:
            return False
        fraction = match.group(1)
        return fraction is None or len(fraction) <= self.digits or self.decimal == "."

    def _without_currency(self, text: str) -> str:
        for mark in self.currency_marks:
            for candidate in (text, text.upper()) if mark == self.currency else (text,):
                if candidate.startswith(mark):
                    return text[len(mark) :].strip()
                if candidate.endswith(mark):
                    return text[: -len(mark)].strip()
        return text

    def _foreign_currency(self, text: str) -> bool:
        if any(unicodedata.category(c) == "Sc" for c in text):
            return True
        match = re.fullmatch(r"([A-Za-z]{3})\s*[0-9].*|.*[0-9]\s*([A-Za-z]{3})", text)
        if match is None:
            return False
        from babel.numbers import list_currencies

        return (match.group(1) or match.group(2)).upper() in list_currencies()

    def _locale_decimal(self, text: str) -> Decimal | None:
        """The locale's grouping and decimal signs (Babel's strict parse), or None."""
        from babel.numbers import NumberFormatError, parse_decimal

        allowed = (
            set("0123456789") | {self.group, self.decimal} | (_APOSTROPHES if self.group in _APOSTROPHES else set())
        )
        if (
            not text
            or not text[0].isascii()
            or not text[0].isdigit()
            or not text[-1].isdigit()
            or not set(text) <= allowed
        ):
            return None
        # A spreadsheet may write a plain space for a no-break one, and either apostrophe (de_CH).
        if self.group == " ":
            text = text.replace(" ", self.babel_group)
        elif self.group in _APOSTROPHES:
            text = text.translate({ord(c): self.babel_group for c in _APOSTROPHES})
        try:
            number = parse_decimal(text, self.locale, strict=True)
        except (NumberFormatError, ValueError):
            return None
        return number if number.is_finite() else None

    def _minor(self, number: Decimal, text: str) -> int:
        exponent = number.as_tuple().exponent
        assert isinstance(exponent, int)  # finite, checked by the caller
        if -exponent > self.digits:
            places = "no decimals" if self.digits == 0 else f"at most {self.digits} decimal places"
            raise InvalidAmount(f"amount {quoted(text)} has too many decimals — {self.currency} takes {places}")
        if number > MAX_MAJOR_UNITS:
            raise InvalidAmount(f"amount {quoted(text)} is too large — the most is {MAX_MAJOR_UNITS:,} {self.currency}")
        minor = int(number.scaleb(self.digits))
        if minor <= 0:
            raise InvalidAmount(f"amount {quoted(text)} is zero — give an amount above zero")
        return minor

    def _example(self) -> str:
        from .money import format_money

        return format_money(120050 * 10**self.digits // 100, self.currency, self.locale)

    # dates

    def posting_date(self, text: str | None) -> str:
        """Return the ``posted_at`` for a date cell (empty: now), or raise InvalidInput."""
        key = (text or "").strip()
        posted = self.dates_read.get(key)
        if posted is None:
            posted = parse_posting_date(self._iso_day(key) if key else None, self.timezone, self.now)
            if not _POSTED_AT_RE.match(posted):  # the year 1000 at noon east of UTC is 999 in UTC
                raise InvalidInput(_too_early(key))
            if len(self.dates_read) < _CACHE_LIMIT:
                self.dates_read[key] = posted
        return posted

    def _iso_day(self, text: str) -> str:
        if _ISO_DATE_RE.match(text):
            try:
                day = dt.date.fromisoformat(text)
            except ValueError:
                day = None
        else:
            day = self.short_date.parse(text, self.locale)
        if day is not None and day.year < 1000:
            raise InvalidInput(_too_early(text))
        if day is None:
            example = self.short_date.example()
            hint = f"YYYY-MM-DD (2026-03-31) or as {example}" if example else "YYYY-MM-DD, e.g. 2026-03-31"
            raise InvalidInput(f"date {quoted(text)} is not a date — write it as {hint}")
        today = self.now.astimezone(_zone(self.timezone)).date()
        if day > today:
            raise InvalidInput(f"date {text} is in the future — use today ({today.isoformat()}) or an earlier day")
        return day.isoformat()


def _too_early(text: str) -> str:
    return f"date {quoted(text)} is before the year 1000 — check the year"


class _ShortDate:
    """The locale's short date (``M/d/yy`` en_US, ``dd.MM.yy`` de_DE), read strictly.

    Babel's ``parse_date`` guesses (it takes ``11/20/2026 and more`` and reads
    the fields in the pattern's order whatever the separators), so the text
    must first match the pattern exactly: the fields in its order, its
    separators, one or two digits for day and month, two or four for the year.
    Babel then reads it, and must agree.
    """

    def __init__(self, pattern: str):
        self.pattern = pattern
        self.order: list[str] = []
        regex = ""
        for token in re.findall(r"d+|M+|y+|'[^']*'|.", pattern):
            kind = token[0]
            if kind in "dMy" and len(token) <= (4 if kind == "y" else 2):
                self.order.append(kind)
                regex += "([0-9]{4}|[0-9]{2})" if kind == "y" else "([0-9]{1,2})"
            elif kind.isalpha() or token.startswith("'"):
                self.order = []  # a month name or an era: only ISO dates then
                break
            else:
                regex += r"\s*" if token.isspace() else re.escape(token)
        self.regex = re.compile(regex + r"\Z") if sorted(self.order) == ["M", "d", "y"] else None

    def parse(self, text: str, locale: str) -> dt.date | None:
        if self.regex is None:
            return None
        match = self.regex.match(text)
        if match is None:
            return None
        fields = dict(zip(self.order, (int(g) for g in match.groups()), strict=True))
        year = fields["y"] + (2000 if len(match.group(self.order.index("y") + 1)) == 2 else 0)
        try:
            day = dt.date(year, fields["M"], fields["d"])
        except ValueError:
            return None
        from babel.dates import parse_date

        try:
            agreed = parse_date(text, locale=locale) == day
        except (ValueError, IndexError, LookupError):
            agreed = False
        return day if agreed else None

    def example(self) -> str | None:
        """2026-11-20 written in this pattern with a four-digit year, e.g. ``11/20/2026``."""
        if self.regex is None:
            return None
        parts = {"d": "20", "M": "11", "y": "2026"}
        out = ""
        for token in re.findall(r"d+|M+|y+|.", self.pattern):
            out += parts[token[0]] if token[0] in "dMy" else token
        return out


def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)
