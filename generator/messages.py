"""The texts that carry a customer's link: an SMS and an email, in the customer's language.

Translated through the same catalogs as the pages (``i18n.translations``), so a
Spanish customer gets Spanish messages. The amount arrives already formatted
(with ``money_locale`` for that language); the link is added as given.
"""

from collections.abc import Sequence
from typing import NamedTuple

from .i18n import money_locale, translations

__all__ = ["ShareTexts", "share_texts", "money_locale", "moved_texts"]

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


class ReminderTexts(NamedTuple):
    """A payment reminder: a text message and an email (subject and paragraphs), in one language."""

    sms: str
    email_subject: str
    paragraphs: list[str]  # the email body, one paragraph each; the link is its own paragraph
    stop_line: str  # how to stop, also the email's last paragraph


# A text message is at most two SMS segments (2 × 160 GSM characters).
SMS_LIMIT = 320


def reminder_texts(
    *, language: str, business: str, amount: str, url: str, contact: str, pay_lines: list[str]
) -> ReminderTexts:
    """Return a reminder that ``amount`` is owed to ``business``, with the link, in ``language``.

    ``pay_lines`` are the ways to pay, one line each (already in ``language``);
    ``contact`` is where the customer writes to stop the emails. The text
    message starts with the business's name (shortened if the whole would pass
    two segments) and ends with the carrier keyword STOP.
    """
    t = translations(language)
    values = {"business": business, "amount": amount, "url": url, "contact": contact}
    # TRANSLATORS: keep STOP as it is: carriers act on this English keyword.
    stop_sms = t.gettext("Reply STOP to stop")
    sms_template = t.gettext("%(business)s: a reminder that you owe %(amount)s. See your balance and pay: %(url)s")
    sms = sms_template % values + " " + stop_sms
    if len(sms) > SMS_LIMIT:
        room = max(len(business) - (len(sms) - SMS_LIMIT) - 1, 1)
        sms = sms_template % {**values, "business": business[:room].rstrip() + "…"} + " " + stop_sms
    subject = t.gettext("Reminder: you owe %(business)s %(amount)s")
    stop_line = t.gettext(
        "You get these reminders because you agreed to them. To stop them, write to %(contact)s"
        " and ask us to stop, or use your email program's unsubscribe button."
    )
    paragraphs = [
        t.gettext("Hello,"),
        t.gettext(
            "This is a reminder that you owe %(business)s %(amount)s. See your balance and how to pay at this private link:"
        )
        % values,
        url,
        *pay_lines,
        t.gettext("If you have paid already, thank you, and please disregard this reminder.") % values,
        t.gettext("Thank you,") + "\n" + business,
        stop_line % values,
    ]
    return ReminderTexts(sms=sms, email_subject=subject % values, paragraphs=paragraphs, stop_line=stop_line % values)


def moved_texts(*, source_language: str, target_language: str, source: str, target: str) -> tuple[str, str]:
    """The descriptions of a merge's two entries, each in its customer's language: "Moved to Ann Lee (ANN)"
    on the customer merged away, "Moved from Ann (C7)" on the one kept. ``source`` and ``target`` are
    "Name (reference)"."""
    moved_to = translations(source_language).gettext("Moved to %(customer)s")
    moved_from = translations(target_language).gettext("Moved from %(customer)s")
    # Formatted after translation: a "%" in a name stays as written.
    return moved_to % {"customer": target}, moved_from % {"customer": source}
