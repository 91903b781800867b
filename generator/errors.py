"""What can go wrong, in the business's words.

Each error's message says what is wrong and how to fix it; the CLI prints it
after ``Error:`` and exits non-zero. Nothing here prints.
"""

# An Error: line quotes at most this many characters of any value (CONTRACT §2).
MAX_QUOTED = 80


def quoted(value: object, limit: int = MAX_QUOTED) -> str:
    """Return ``repr(value)`` for an error message, cut to at most ``limit`` characters.

    Control characters come out escaped (``'\\x1b'``), so a hostile value cannot
    move a terminal's cursor; a longer value ends in ``…'``.
    """
    text = repr(value if isinstance(value, str) else str(value))
    if len(text) <= limit:
        return text
    return text[: limit - 2] + "…" + text[0]


def shorten_quotes(message: str, limit: int = MAX_QUOTED) -> str:
    """Cut every quoted value in a finished message (click's usage errors quote whole arguments) to ``limit``."""
    import re

    return re.sub(
        rf"'([^'\n]{{{limit - 1},}})'",
        lambda m: "'" + m.group(1)[: limit - 3] + "…'",
        message,
    )


class PaylinkError(Exception):
    """Something the user asked for cannot be done."""


class SiteError(PaylinkError):
    """The site folder is missing, already exists, or is misconfigured."""


class SettingsError(SiteError):
    """A value in paylink.toml (or given to init) is not valid."""


class InvalidAmount(PaylinkError):
    """An amount is not a positive decimal in the currency's units."""


class NegativeAmount(InvalidAmount):
    """An amount carries a minus sign (or accounting parentheses): the kind of entry says which way money goes."""


class InvalidInput(PaylinkError):
    """A name, date, description, email or other value is not acceptable."""


class CustomerNotFound(PaylinkError):
    """No customer with that id or ref."""


class DuplicateRef(PaylinkError):
    """Another customer already has that ref."""


class CustomerMerged(PaylinkError):
    """The customer was merged into another: post to that one."""


class CannotRemove(PaylinkError):
    """The customer has entries (or others merged into them), which are never deleted."""


class CannotMerge(PaylinkError):
    """The two customers cannot be merged (the same one, or one already merged)."""


class EntryNotFound(PaylinkError):
    """No entry with that id."""


class CannotVoid(PaylinkError):
    """The entry is a void or has already been voided."""


class IdempotencyConflict(PaylinkError):
    """An idempotency key was reused with a different amount or description."""


class LinkNotFound(PaylinkError):
    """The customer has no live link."""


class ImportFailed(PaylinkError):
    """A CSV file could not be imported; nothing from it was written."""


class PagesNotWritten(PaylinkError):
    """A page could not be rendered or written; the ledger change was rolled back."""


class StoreNotUpdated(PaylinkError):
    """The publish store could not be reached before a change that must reach it first; nothing was changed."""
