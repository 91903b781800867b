"""What counts as acceptable text: one plain line, an email address, a phone number, a ref.

Shared by the ledger (customers, descriptions) and the settings (the business's
own name, phone and email), so both refuse the same things in the same words.
"""

import re

from .errors import InvalidInput

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+\Z")
_PHONE_RE = re.compile(r"[0-9+() .\-]{3,40}\Z")


def clean_line(value: str, what: str, max_length: int, *, required: bool = True) -> str:
    """Return one line of text stripped, or raise InvalidInput."""
    text = value.strip()
    if required and not text:
        article = "an" if what[:1] in "aeiou" else "a"
        raise InvalidInput(f"the {what} is empty — give {article} {what}")
    if _CONTROL_RE.search(text):
        raise InvalidInput(f"the {what} contains a control character (such as a newline) — use one plain line")
    if len(text) > max_length:
        raise InvalidInput(f"the {what} is longer than {max_length} characters — shorten it")
    return text


def clean_email(value: str | None) -> str | None:
    """Return an email address or None, or raise InvalidInput."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not _EMAIL_RE.match(text) or len(text) > 254:
        raise InvalidInput(f"email {value!r} is not an email address — use one like name@example.com")
    return text


def clean_phone(value: str | None) -> str | None:
    """Return a phone number or None, or raise InvalidInput."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not _PHONE_RE.match(text) or not any(c.isdigit() for c in text):
        raise InvalidInput(f"phone {value!r} is not a phone number — use digits, spaces, +, -, ( and )")
    return text


def clean_ref(value: str | None) -> str | None:
    """Return a customer ref or None; a ref may not be all digits (those are ids)."""
    if value is None or not value.strip():
        return None
    text = clean_line(value, "ref", 100)
    if text.isdigit():
        raise InvalidInput(
            f"ref {value!r} is all digits, which would read as a customer id — add a letter, e.g. C-{text}"
        )
    return text
