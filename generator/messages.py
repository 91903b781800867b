"""The texts that carry a customer's link: an SMS and an email, in the customer's language.

Translated through the same catalogs as the pages (``i18n.translations``), so a
Spanish customer gets Spanish messages. The amount arrives already formatted
(with ``money_locale`` for that language); the link is added as given.
"""

from typing import NamedTuple

from .i18n import money_locale, translations

__all__ = ["ShareTexts", "share_texts", "money_locale", "moved_texts"]

STATES = ("outstanding", "credit", "zero")


class ShareTexts(NamedTuple):
    """An SMS and an email that give a customer their link."""

    sms: str
    email_subject: str
    email_body: str


def share_texts(*, language: str, business: str, state: str, amount: str, url: str) -> ShareTexts:
    """Return the SMS and email for a customer whose balance is in ``state``, in ``language``.

    ``state`` is "outstanding" (``amount`` is owed), "credit" (the customer has a
    credit of ``amount``) or "zero" (nothing is owed; ``amount`` is not shown).
    A language paylink does not ship gets English.
    """
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}, not {state!r}")
    t = translations(language)
    values = {"business": business, "amount": amount, "url": url}
    if state == "outstanding":
        sms = t.gettext("%(business)s: you owe %(amount)s. See your balance and how to pay: %(url)s")
        subject = t.gettext("Your balance with %(business)s: %(amount)s")
        lead = t.gettext("You owe %(business)s %(amount)s. See your balance and how to pay at this private link:")
    elif state == "credit":
        sms = t.gettext("%(business)s: you have a credit of %(amount)s. See your balance: %(url)s")
        subject = t.gettext("Your credit with %(business)s: %(amount)s")
        lead = t.gettext("You have a credit of %(amount)s with %(business)s. See your balance at this private link:")
    else:
        sms = t.gettext("%(business)s: you're all paid up, nothing is owed. See your balance: %(url)s")
        subject = t.gettext("Your account with %(business)s is paid up")
        lead = t.gettext(
            "You're all paid up with %(business)s: nothing is owed. See your balance at this private link:"
        )
    body = "\n\n".join(
        [
            t.gettext("Hello,"),
            lead + "\n%(url)s",
            t.gettext("Anyone with this link can see your balance, so please keep it private."),
            t.gettext("Thank you,") + "\n%(business)s",
        ]
    )
    # Formatted once, after translation: a "%" in a name or a link stays as written.
    return ShareTexts(sms=sms % values, email_subject=subject % values, email_body=body % values)


def moved_texts(*, source_language: str, target_language: str, source: str, target: str) -> tuple[str, str]:
    """The descriptions of a merge's two entries, each in its customer's language: "Moved to Ann Lee (ANN)"
    on the customer merged away, "Moved from Ann (C7)" on the one kept. ``source`` and ``target`` are
    "Name (reference)"."""
    moved_to = translations(source_language).gettext("Moved to %(customer)s")
    moved_from = translations(target_language).gettext("Moved from %(customer)s")
    # Formatted after translation: a "%" in a name stays as written.
    return moved_to % {"customer": target}, moved_from % {"customer": source}
