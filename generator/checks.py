"""What counts as acceptable text: one plain line, an email address, a phone number, a ref.

Shared by the ledger (customers, descriptions) and the settings (the business's
own name, phone and email), so both refuse the same things in the same words.
"""

import re

from .errors import InvalidInput, quoted

# C0 controls, DEL and C1 controls (U+0080–U+009F): a terminal acts on them (ESC
# sequences, CSI U+009B), so no stored text may hold one, whatever it came through.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+\Z")
_PHONE_RE = re.compile(r"[0-9+() .\-]{3,40}\Z")


def has_control(value: str) -> bool:
    """Whether ``value`` holds a C0 or C1 control character or DEL."""
    return _CONTROL_RE.search(value) is not None


def refuse_control(value: str, what: str) -> None:
    """Raise InvalidInput if ``value`` holds a control character (a line end around it is forgiven:
    ``$(cat file)`` and spreadsheets leave one, and it is stripped)."""
    if _CONTROL_RE.search(value.strip(" \t\r\n")):
        raise InvalidInput(f"the {what} contains a control character (such as a newline) — use one plain line")


def clean_line(value: str, what: str, max_length: int, *, required: bool = True) -> str:
    """Return one line of text stripped, or raise InvalidInput."""
    refuse_control(value, what)  # before strip(), which would quietly drop a trailing U+0085
    text = value.strip()
    if required and not text:
        article = "an" if what[:1] in "aeiou" else "a"
        raise InvalidInput(f"the {what} is empty — give {article} {what}")
    if len(text) > max_length:
        raise InvalidInput(f"the {what} is longer than {max_length} characters — shorten it")
    return text


def clean_email(value: str | None) -> str | None:
    """Return an email address or None, or raise InvalidInput."""
    if value is None:
        return None
    refuse_control(value, "email")
    if not value.strip():
        return None
    text = value.strip()
    if not _EMAIL_RE.match(text) or len(text) > 254:
        raise InvalidInput(f"email {quoted(value)} is not an email address — use one like name@example.com")
    return text


def clean_phone(value: str | None) -> str | None:
    """Return a phone number or None, or raise InvalidInput."""
    if value is None:
        return None
    refuse_control(value, "phone")
    if not value.strip():
        return None
    text = value.strip()
    if not _PHONE_RE.match(text) or not any(c.isdigit() for c in text):
        raise InvalidInput(f"phone {quoted(value)} is not a phone number — use digits, spaces, +, -, ( and )")
    return text


def clean_ref(value: str | None) -> str | None:
    """Return a customer ref or None; a ref may not be all digits (those are ids)."""
    if value is None:
        return None
    refuse_control(value, "ref")
    if not value.strip():
        return None
    text = clean_line(value, "ref", 100)
    if text.isdigit():
        raise InvalidInput(
            f"ref {quoted(value)} is all digits, which would read as a customer id — add a letter, e.g. C-{text[:40]}"
        )
    return text
