"""Money: integer minor units inside, Decimal only to parse input and format output.

A currency's minor units come from Babel's ISO 4217 data (2 for USD, 0 for JPY,
3 for KWD). No float ever touches an amount.
"""

import re
import unicodedata
from decimal import Decimal
from functools import cache, lru_cache

from .errors import InvalidAmount, SettingsError, quoted

MAX_MAJOR_UNITS = 1_000_000_000
_AMOUNT_RE = re.compile(r"([0-9]+)(?:\.([0-9]+))?\Z")


@cache
def minor_digits(currency: str) -> int:
    """Return how many decimal places the currency has (USD 2, JPY 0, KWD 3)."""
    from babel.numbers import get_currency_precision

    return get_currency_precision(currency)


def check_currency(currency: str) -> str:
    """Return the ISO 4217 code in upper case, or raise SettingsError if Babel does not know it."""
    from babel.numbers import list_currencies

    code = currency.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code) or code not in list_currencies():
        raise SettingsError(f"unknown currency {quoted(currency)} — use an ISO 4217 code such as USD, EUR or JPY")
    return code


def parse_amount(text: str, currency: str) -> int:
    """Parse a positive amount in major units (``12``, ``12.5``, ``12.50``) into minor units.

    ASCII digits only; no sign, exponent or thousands separator; no more
    decimals than the currency has; not zero; at most 1,000,000,000 major units.
    """
    digits = minor_digits(currency)
    raw = text.strip()
    match = _AMOUNT_RE.match(raw)
    if not match:
        raise InvalidAmount(
            f"amount {_shown(text)} is not a decimal number — write it like 12 or 12.50, "
            "with no sign, currency symbol or thousands separator"
        )
    whole, fraction = match.group(1).lstrip("0") or "0", match.group(2) or ""
    if len(fraction) > digits:
        places = "no decimals" if digits == 0 else f"at most {digits} decimal places"
        raise InvalidAmount(f"amount {_shown(text)} has too many decimals — {currency} takes {places}")
    # Checked on the digits first so a 5,000-digit amount never reaches int().
    too_large = len(whole) > len(str(MAX_MAJOR_UNITS))
    minor = 0 if too_large else int(whole) * 10**digits + int(fraction.ljust(digits, "0") or "0")
    if minor == 0 and not too_large:
        raise InvalidAmount(f"amount {_shown(text)} is zero — give an amount above zero")
    if too_large or minor > MAX_MAJOR_UNITS * 10**digits:
        raise InvalidAmount(f"amount {_shown(text)} is too large — the most is {MAX_MAJOR_UNITS:,} {currency}")
    return minor


def to_decimal(minor: int, currency: str) -> Decimal:
    """Return the amount in major units as an exact Decimal."""
    return Decimal(minor).scaleb(-minor_digits(currency))


def major_string(minor: int, currency: str) -> str:
    """Return the plain decimal string used in JSON: 1250 USD -> "12.50", -5 USD -> "-0.05"."""
    digits = minor_digits(currency)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**digits)
    return f"{sign}{whole}.{fraction:0{digits}d}" if digits else f"{sign}{whole}"


def format_money(minor: int, currency: str, locale: str) -> str:
    """Format an amount for people, in the site's locale: 123450 USD en_US -> "$1,234.50"."""
    return _formatter(currency, locale)(minor)


def babel_money(minor: int, currency: str, locale: str) -> str:
    """Format an amount with Babel itself (the reference ``format_money`` must agree with).

    Babel leaves out CLDR's currency spacing ("KWD1.234"), so it is added here.
    """
    from babel.numbers import format_currency, get_currency_symbol

    text = format_currency(to_decimal(minor, currency), currency, locale=locale)
    return _currency_spacing(text, get_currency_symbol(currency, locale=locale))


def _currency_spacing(text: str, symbol: str) -> str:
    """Put a no-break space between a letter-like currency symbol and the digits: "KWD1.234" -> "KWD 1.234".

    CLDR's currencySpacing rule, which Babel does not apply: a symbol such as
    "$" or "€" touches the number, a code such as "KWD" or "CHF" does not.
    """
    at = text.find(symbol)
    if not symbol or at < 0:
        return text
    end = at + len(symbol)
    if end < len(text) and text[end].isdigit() and not unicodedata.category(symbol[-1]).startswith("S"):
        text = text[:end] + "\xa0" + text[end:]
    if at > 0 and text[at - 1].isdigit() and not unicodedata.category(symbol[0]).startswith("S"):
        text = text[:at] + "\xa0" + text[at:]
    return text


@lru_cache(maxsize=64)
def _formatter(currency: str, locale: str):
    """Return a fast formatter for one currency and locale, proven equal to Babel on probes.

    Babel's ``format_currency`` costs about 15 µs a call, which dominates a page
    with two dozen amounts. The locale's currency pattern is fixed, so it is
    learnt once: Babel formats a probe, the digits are located in its output,
    and what stands around them becomes the prefix and suffix for each sign.
    Unless the fast path agrees with Babel on every probe, Babel is used for
    every amount (cached per value).
    """
    from babel import Locale
    from babel.numbers import get_decimal_symbol, get_group_symbol

    digits = minor_digits(currency)
    loc = Locale.parse(locale)
    pattern = loc.currency_formats["standard"]
    primary, secondary = pattern.grouping
    group, decimal = get_group_symbol(loc), get_decimal_symbol(loc)

    def digits_text(minor_abs: int) -> str:
        whole, fraction = divmod(minor_abs, 10**digits)
        text = str(whole)
        grouped = text[-primary:]
        text = text[:-primary]
        while text:
            grouped, text = text[-secondary:] + group + grouped, text[:-secondary]
        return grouped + (f"{decimal}{fraction:0{digits}d}" if digits else "")

    probe = 1234567 * 10**digits + (10**digits - 1)
    affixes = {}
    for sign in (1, -1):
        reference = babel_money(sign * probe, currency, locale)
        body = digits_text(probe)
        at = reference.find(body)
        if at < 0 or reference.find(body, at + 1) >= 0:
            return lru_cache(maxsize=65536)(lambda minor: babel_money(minor, currency, locale))
        affixes[sign] = (reference[:at], reference[at + len(body) :])

    def fast(minor: int) -> str:
        prefix, suffix = affixes[-1 if minor < 0 else 1]
        return prefix + digits_text(abs(minor)) + suffix

    probes = [0, 1, 5, 99, 100, 101, 12_345, 999_999, 1_000_000, 10**12 + 7, 10**digits * MAX_MAJOR_UNITS]
    if all(fast(sign * m) == babel_money(sign * m, currency, locale) for m in probes for sign in (1, -1)):
        return fast
    return lru_cache(maxsize=65536)(lambda minor: babel_money(minor, currency, locale))


def tip_minor(balance_minor: int, percent: int) -> int:
    """Tip on a positive balance, rounded half-up to the currency's minor unit."""
    return (balance_minor * percent + 50) // 100


def _shown(text: str) -> str:
    """Quote user input for an error message, cut short so one line stays one line."""
    return repr(text if len(text) <= 24 else text[:20] + "…")
