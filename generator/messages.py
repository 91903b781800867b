"""The words paylink sends customers: share messages (text and email), in the customer's language.

A minimal English version of the interface the translations share; the
translated catalogs replace these texts without changing the calls.
"""

from typing import NamedTuple


class ShareTexts(NamedTuple):
    """A ready text message, and an email's subject and body, for sharing a customer's link."""

    sms: str
    email_subject: str
    email_body: str


def share_texts(*, language: str, business: str, state: str, amount: str, url: str) -> ShareTexts:
    """The share messages for a balance ``state`` ("outstanding", "credit", "zero"); ``amount`` is formatted."""
    if state == "outstanding":
        sms = f"{business}: your balance is {amount}. See the details and pay here: {url}"
        subject = f"Your balance with {business}: {amount}"
        summary = f"Your balance with {business} is {amount}."
    elif state == "credit":
        sms = f"{business}: you have a credit of {amount}. See the details here: {url}"
        subject = f"Your credit with {business}: {amount}"
        summary = f"You have a credit of {amount} with {business}."
    else:
        sms = f"{business}: you owe nothing — thank you! Your account: {url}"
        subject = f"Your account with {business}: nothing owed"
        summary = f"You owe {business} nothing — thank you!"
    body = (
        f"Hello,\n\n{summary}\n\n"
        f"Your own page shows your balance and recent charges at any time:\n{url}\n\n"
        "Anyone with this link can see your balance, so please keep it to yourself.\n\n"
        f"Thank you,\n{business}\n"
    )
    return ShareTexts(sms=sms, email_subject=subject, email_body=body)


def money_locale(settings, language: str) -> str:
    """The locale for money and dates in ``language`` in the site's territory (es on en_US -> es_US).

    Falls back to the site's own locale where Babel does not know that pairing.
    """
    from babel import Locale, UnknownLocaleError

    own_language, _, territory = settings.locale.partition("_")
    if language == own_language or not territory:
        return settings.locale
    candidate = f"{language}_{territory}"
    try:
        Locale.parse(candidate)
    except (UnknownLocaleError, ValueError):
        return settings.locale
    return candidate
