"""Money: integer minor units inside, Decimal only to parse input and format output.

A currency's minor units come from Babel's ISO 4217 data (2 for USD, 0 for JPY,
3 for KWD). No float ever touches an amount.
"""

import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache

from .errors import InvalidAmount, SettingsError, quoted

MAX_MAJOR_UNITS = 1_000_000_000
_AMOUNT_RE = re.compile(r"([0-9]+)(?:\.([0-9]+))?\Z")


# Minor digits by currency, filled from Babel on first use or from the settings cache (see ``prime``).
_DIGITS: dict[str, int] = {}


def minor_digits(currency: str) -> int:
    """Return how many decimal places the currency has (USD 2, JPY 0, KWD 3)."""
    digits = _DIGITS.get(currency)
    if digits is None:
        from babel.numbers import get_currency_precision

        digits = _DIGITS[currency] = get_currency_precision(currency)
    return digits


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
    return money_formatter(currency, locale)(minor)


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


# Formatters by (currency, locale): learnt from Babel once, or rebuilt from the settings cache's facts.
_FORMATTERS: dict[tuple[str, str], Callable[[int], str]] = {}


def money_formatter(currency: str, locale: str) -> Callable[[int], str]:
    """Return the formatter for one currency and locale (see ``formatting_facts``): minor units -> text."""
    found = _FORMATTERS.get((currency, locale))
    if found is None:
        found = _FORMATTERS[(currency, locale)] = _from_facts(currency, locale, formatting_facts(currency, locale))
    return found


def formatting_facts(currency: str, locale: str) -> dict:
    """Learn how the locale writes the currency, proven equal to Babel on probes: plain JSON data.

    Babel's ``format_currency`` costs about 15 µs a call, which dominates a page
    with two dozen amounts. The locale's currency pattern is fixed, so it is
    learnt once: Babel formats a probe, the digits are located in its output,
    and what stands around them becomes the prefix and suffix for each sign.
    Unless the fast path agrees with Babel on every probe, the facts say
    ``"fast": False`` and Babel formats every amount (cached per value).
    The settings cache keeps these facts, so a command whose paylink.toml has
    not changed neither imports Babel nor probes it to format an amount.
    """
    from babel import Locale
    from babel.numbers import get_decimal_symbol, get_group_symbol

    digits = minor_digits(currency)
    loc = Locale.parse(locale)
    primary, secondary = loc.currency_formats["standard"].grouping
    facts = {
        "digits": digits,
        "fast": False,
        "primary": primary,
        "secondary": secondary,
        "group": get_group_symbol(loc),
        "decimal": get_decimal_symbol(loc),
    }
    digits_text = _digits_text(facts)
    probe = 1234567 * 10**digits + (10**digits - 1)
    affixes = []
    for sign in (1, -1):
        reference = babel_money(sign * probe, currency, locale)
        body = digits_text(probe)
        at = reference.find(body)
        if at < 0 or reference.find(body, at + 1) >= 0:
            return facts
        affixes.append([reference[:at], reference[at + len(body) :]])
    facts["affixes"] = affixes
    fast = _fast(facts)
    probes = [0, 1, 5, 99, 100, 101, 12_345, 999_999, 1_000_000, 10**12 + 7, 10**digits * MAX_MAJOR_UNITS]
    facts["fast"] = all(fast(sign * m) == babel_money(sign * m, currency, locale) for m in probes for sign in (1, -1))
    return facts


def prime(currency: str, locale: str, facts: dict) -> None:
    """Use facts that ``formatting_facts`` learnt in an earlier run (kept in the settings cache)."""
    _DIGITS[currency] = int(facts["digits"])
    _FORMATTERS[(currency, locale)] = _from_facts(currency, locale, facts)


def _from_facts(currency: str, locale: str, facts: dict):
    if facts.get("fast"):
        return _fast(facts)
    return lru_cache(maxsize=65536)(lambda minor: babel_money(minor, currency, locale))


def _digits_text(facts: dict):
    digits, primary, secondary = facts["digits"], facts["primary"], facts["secondary"]
    group, decimal, scale = facts["group"], facts["decimal"], 10 ** facts["digits"]
    # Every fraction's text, made once: "" (no minor unit), or ".00" to ".99" in the locale's decimal sign.
    fractions = [f"{decimal}{fraction:0{digits}d}" for fraction in range(scale)] if digits else [""]
    ungrouped = 10**primary  # below this, the whole part has no group separator

    def digits_text(minor_abs: int) -> str:
        whole, fraction = divmod(minor_abs, scale)
        if whole < ungrouped:
            return f"{whole}{fractions[fraction]}"
        text = str(whole)
        grouped = text[-primary:]
        text = text[:-primary]
        while text:
            grouped, text = text[-secondary:] + group + grouped, text[:-secondary]
        return grouped + fractions[fraction]

    return digits_text


def _fast(facts: dict):
    digits_text = _digits_text(facts)
    (plus_prefix, plus_suffix), (minus_prefix, minus_suffix) = facts["affixes"]
    scale, ungrouped = 10 ** facts["digits"], 10 ** facts["primary"]
    fractions = [digits_text(fraction)[1:] for fraction in range(scale)]  # "" or the locale's ".00" to ".99"

    def fast(minor: int) -> str:
        if minor < 0:
            return minus_prefix + digits_text(-minor) + minus_suffix
        whole, fraction = divmod(minor, scale)
        if whole < ungrouped:  # most amounts: no group separator, one step
            return f"{plus_prefix}{whole}{fractions[fraction]}{plus_suffix}"
        return plus_prefix + digits_text(minor) + plus_suffix

    return fast


def tip_minor(balance_minor: int, percent: int) -> int:
    """Tip on a positive balance, rounded half-up to the currency's minor unit."""
    return (balance_minor * percent + 50) // 100


def _shown(text: str) -> str:
    """Quote user input for an error message, cut short so one line stays one line."""
    return repr(text if len(text) <= 24 else text[:20] + "…")
