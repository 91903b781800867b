"""Money (CONTRACT §2, §4): parsing amounts, the JSON decimal string, people's formatting, tips."""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paylink.errors import InvalidAmount, SettingsError
from paylink.money import (
    MAX_MAJOR_UNITS,
    babel_money,
    check_currency,
    format_money,
    major_string,
    minor_digits,
    parse_amount,
    tip_minor,
)

CURRENCIES = {"USD": 2, "JPY": 0, "KWD": 3}
currencies = st.sampled_from(sorted(CURRENCIES))


def test_minor_digits():
    assert {code: minor_digits(code) for code in CURRENCIES} == CURRENCIES


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12", "USD", 1200),
        ("12.5", "USD", 1250),
        ("12.50", "USD", 1250),
        ("0.01", "USD", 1),
        ("007", "USD", 700),
        ("1000000000", "USD", 100_000_000_000),
        ("1250", "JPY", 1250),
        ("1", "JPY", 1),
        ("1.234", "KWD", 1234),
        ("0.001", "KWD", 1),
        ("1000000000.000", "KWD", 1_000_000_000_000),
    ],
)
def test_parse_amount_examples(text, currency, minor):
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [(1250, "USD", "12.50"), (-5, "USD", "-0.05"), (0, "USD", "0.00"), (-1250, "JPY", "-1250"), (1, "KWD", "0.001")],
)
def test_major_string_examples(minor, currency, text):
    assert major_string(minor, currency) == text


@pytest.mark.parametrize(
    ("minor", "currency", "locale", "text"),
    [
        (123450, "USD", "en_US", "$1,234.50"),
        (1250, "USD", "en_US", "$12.50"),
        (0, "USD", "en_US", "$0.00"),
        (1250, "JPY", "ja_JP", "￥1,250"),
        (1234, "KWD", "en_US", "KWD\xa01.234"),  # a currency code never touches the digits
        (-1234, "KWD", "en_US", "-KWD\xa01.234"),
        (1200, "CHF", "en_US", "CHF\xa012.00"),
        (1234, "KWD", "de_DE", "1,234\xa0KWD"),
        (123456789, "INR", "hi_IN", "₹12,34,567.89"),
        (123450, "EUR", "de_DE", "1.234,50\xa0€"),
    ],
)
def test_format_money_examples(minor, currency, locale, text):
    assert format_money(minor, currency, locale) == text


@settings(max_examples=200, deadline=None)
@given(
    currency=st.sampled_from(["USD", "JPY", "KWD", "EUR", "INR", "CHF"]),
    locale=st.sampled_from(["en_US", "de_DE", "ja_JP", "fr_FR", "hi_IN", "de_CH", "ar_EG"]),
    minor=st.integers(-(10**14), 10**14),
)
def test_format_money_agrees_with_the_reference(currency, locale, minor):
    assert format_money(minor, currency, locale) == babel_money(minor, currency, locale)


def test_check_currency():
    assert check_currency(" usd ") == "USD"
    for bad in ("XYZ", "US", "DOLLARS", "", "U$D"):
        with pytest.raises(SettingsError, match="unknown currency"):
            check_currency(bad)


@settings(max_examples=200, deadline=None)
@given(currency=currencies, data=st.data())
def test_parse_inverts_major_string(currency, data):
    minor = data.draw(st.integers(min_value=1, max_value=MAX_MAJOR_UNITS * 10 ** CURRENCIES[currency]))
    assert parse_amount(major_string(minor, currency), currency) == minor


@settings(max_examples=200, deadline=None)
@given(currency=currencies, whole=st.integers(0, MAX_MAJOR_UNITS - 1), data=st.data())
def test_parse_accepts_up_to_the_currency_decimals(currency, whole, data):
    places = data.draw(st.integers(0, CURRENCIES[currency]))
    fraction = data.draw(st.text("0123456789", min_size=places, max_size=places))
    text = f"{whole}.{fraction}" if fraction else str(whole)
    expected = int(Decimal(text).scaleb(CURRENCIES[currency]))
    if expected == 0:
        with pytest.raises(InvalidAmount, match="is zero"):
            parse_amount(text, currency)
    else:
        assert parse_amount(text, currency) == expected


@settings(max_examples=200, deadline=None)
@given(currency=currencies, whole=st.integers(0, MAX_MAJOR_UNITS), data=st.data())
def test_parse_refuses_more_decimals_than_the_currency_has(currency, whole, data):
    extra = data.draw(st.integers(1, 4))
    fraction = data.draw(
        st.text("0123456789", min_size=CURRENCIES[currency] + extra, max_size=CURRENCIES[currency] + extra)
    )
    with pytest.raises(InvalidAmount, match=f"has too many decimals — {currency} takes"):
        parse_amount(f"{whole}.{fraction}", currency)


@settings(max_examples=100, deadline=None)
@given(currency=currencies, minor=st.integers(1, 10**6))
def test_parse_refuses_every_amount_above_the_limit(currency, minor):
    too_much = MAX_MAJOR_UNITS * 10 ** CURRENCIES[currency] + minor
    with pytest.raises(InvalidAmount, match="is too large"):
        parse_amount(major_string(too_much, currency), currency)


@settings(max_examples=300, deadline=None)
@given(currency=currencies, text=st.text(max_size=30))
def test_parse_of_any_text_is_an_amount_or_invalid_amount(currency, text):
    """Whatever staff type, the answer is a valid amount or InvalidAmount: never another exception."""
    try:
        minor = parse_amount(text, currency)
    except InvalidAmount as exc:
        assert "\n" not in str(exc)
    else:
        assert 1 <= minor <= MAX_MAJOR_UNITS * 10 ** CURRENCIES[currency]
        assert text.strip().isascii()
        assert Decimal(text.strip()).scaleb(CURRENCIES[currency]) == minor


@settings(max_examples=100, deadline=None)
@given(
    currency=currencies,
    digits=st.text(
        st.characters(whitelist_categories=["Nd"]).filter(lambda c: not c.isascii()), min_size=1, max_size=6
    ),
)
def test_parse_refuses_digits_that_are_not_ascii(currency, digits):
    with pytest.raises(InvalidAmount, match="is not a decimal number"):
        parse_amount(digits, currency)


@settings(max_examples=300, deadline=None)
@given(balance=st.integers(0, 10**14), percent=st.one_of(st.sampled_from([0, 18, 20, 25]), st.integers(0, 100)))
def test_tip_is_half_up_rounding_of_balance_times_percent(balance, percent):
    exact = Decimal(balance) * percent / 100
    assert tip_minor(balance, percent) == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@pytest.mark.parametrize(
    ("balance", "percent", "tip"), [(250, 18, 45), (1250, 18, 225), (1, 50, 1), (3, 50, 2), (1, 18, 0)]
)
def test_tip_examples(balance, percent, tip):
    assert tip_minor(balance, percent) == tip
