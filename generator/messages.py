"""The texts that carry a customer's link: an SMS and an email, in the customer's language.

Translated through the same catalogs as the pages (``i18n.translations``), so a
Spanish customer gets Spanish messages. The amount arrives already formatted
(with ``money_locale`` for that language); the link is added as given.
"""

from collections.abc import Sequence
from typing import NamedTuple

from .i18n import money_locale, translations

__all__ = ["ShareTexts", "share_texts", "money_locale"]

STATES = ("outstanding", "credit", "zero")


class ShareTexts(NamedTuple):
    """An SMS and an email that give a customer their link."""

    sms: str
    email_subject: str
    email_body: str


def share_texts(
    *, language: str, business: str, state: str, amount: str, url: str, pay_lines: Sequence[str] = ()
) -> ShareTexts:
    """Return the SMS and email for a customer whose balance is in ``state``, in ``language``.

    ``state`` is "outstanding" (``amount`` is owed), "credit" (the customer has a
    credit of ``amount``) or "zero" (nothing is owed; ``amount`` is not shown).
    A language paylink does not ship gets English. ``pay_lines`` ("Pay by Venmo:
    https://…", one per ``[[pay]]`` method, already translated) follow the link.
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
    pay = "".join("\n" + line.replace("%", "%%") for line in pay_lines)
    sms += pay
    body = "\n\n".join(
        [
            t.gettext("Hello,"),
            lead + "\n%(url)s" + pay,
            t.gettext("Anyone with this link can see your balance, so please keep it private."),
            t.gettext("Thank you,") + "\n%(business)s",
        ]
    )
    # Formatted once, after translation: a "%" in a name or a link stays as written.
    return ShareTexts(sms=sms % values, email_subject=subject % values, email_body=body % values)
