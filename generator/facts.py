"""A customer page's facts: every value the page shows, computed once from the customer's statement.

``page_facts`` is the one place that decides what a page says: the balance's
state and formatted amount (and how large it may be drawn), the tip choices and
their totals, which rows the table shows and how each is marked, how many
entries are not shown, the "as of" time, the page's language. Every way of
drawing the page consumes these facts and computes nothing of its own: Jinja
renders them (render.py) and the compiled page fills them into its constant
text (compiled_page.py).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Protocol

from .dates import LocalDates, Moment
from .model import Entry
from .money import tip_minor

if TYPE_CHECKING:
    from markupsafe import Markup

# A row of the entries table is drawn by its variant: (kind, voided). Numbered by place, so that
# a variant's number is 2 * kind's place + voided. A void is never a row: the entry it cancels is
# shown once, marked, and the void's reason is for the business only (CONTRACT §4).
VARIANTS: tuple[tuple[str, bool], ...] = tuple(
    (kind, voided) for kind in ("charge", "credit") for voided in (False, True)
)
# How wide a total may be and still sit in a tip choice of the narrow layout.
NARROW_TIP_TOTAL = 10


@dataclass(frozen=True)
class Statement:
    """What one customer's page shows: read from the ledger, not yet formatted."""

    customer_name: str
    balance_minor: int
    entries: list[Entry]  # the newest (at most 20) that are not voids, newest first (voids given are left out)
    last_change: str  # ISO 8601 UTC: when the balance last changed (the newest entry, a void too)
    language: str | None = None  # the customer's own; None: the site's
    entry_count: int | None = None  # all the customer's entries but voids; None: just those shown
    # The voids of entries shown: void entry id -> (id, description) of the entry it cancels.
    voids: Mapping[int, tuple[int, str]] = field(default_factory=dict)
    # Who pays, for the [[pay]] options' reference: the customer's id, ref and email (None: not known).
    customer_id: int | None = None
    customer_ref: str | None = None
    customer_email: str | None = None


class EntryLine(NamedTuple):
    """One row of the entries table, formatted."""

    date: str
    date_iso: str
    description: str
    amount: str
    kind: str  # "charge" or "credit"
    voided: bool  # canceled by a void (shown struck through, marked "Canceled")


class TipChoice(NamedTuple):
    """One tip radio: its percentage, label and amounts."""

    percent: int
    label: str  # "18 %" as the language writes it; "" for no tip
    amount: str
    total: str
    total_minor: int
    checked: bool


class PageFacts(NamedTuple):
    """Every value a customer's page shows, formatted for its language; templates hold markup only.

    ``pay_options`` is the slot for the ways to pay (CONTRACT §8): a block of
    HTML made elsewhere, already escaped (a ``markupsafe.Markup``), shown on an
    outstanding page in place of ``#pay-notice`` and the card form, with the
    tip choices and the total kept above it. ``None`` (no ``[[pay]]`` method)
    leaves the page exactly as without the slot. The compiled page fills it as
    one hole, so such pages stay on the fast path.
    """

    language: str
    customer_name: str
    state: str  # "zero", "credit" or "outstanding"
    balance: str  # what is owed, or the credit as a positive amount
    balance_size: str  # "normal", "long" or "longer" (see ``balance_size``)
    total: str  # the balance with no tip (outstanding), else zero
    tips: tuple[TipChoice, ...]  # none unless outstanding and the site offers tips
    tips_wide: bool  # some total is too wide for the narrow tip layout
    entries: list[EntryLine]  # the rows shown, newest first: every entry but voids, at most 20
    older: int  # how many entries (voids not counted) are not shown
    as_of: Moment  # when the balance last changed
    pay_options: "Markup | None" = None

    @property
    def shape(self) -> tuple:
        """What decides the page's constant text (the compiled page keeps one per shape)."""
        return (
            self.language,
            self.state,
            self.balance_size,
            self.tips_wide,
            bool(self.entries),
            bool(self.older),
            len(self.tips),
            self.pay_options is not None,
        )

    def context(self) -> dict:
        """The page template's variables (besides what every page of the language shares)."""
        return {
            "customer": {"name": self.customer_name},  # one field, read once
            "state": self.state,
            "balance": self.balance,
            "balance_size": self.balance_size,
            "total": self.total,
            "tips": self.tips,
            "tips_wide": self.tips_wide,
            "entries": self.entries,
            "older": self.older,
            "as_of": self.as_of,
            "pay_options": self.pay_options,
        }


class PageFormats(Protocol):
    """How one language writes money, percentages and dates on a site (render.Voice, page_cache.LightVoice)."""

    language: str
    dates: LocalDates

    def money(self, minor: int) -> str: ...

    def percent(self, percent: int) -> str: ...


def page_facts(
    statement: Statement, formats: PageFormats, tips: tuple[int, ...], pay_options: "Markup | None" = None
) -> PageFacts:
    """The facts of a customer's page: ``statement`` written in ``formats``' language, ``tips`` offered."""
    money = formats.money
    balance = statement.balance_minor
    state = "outstanding" if balance > 0 else "credit" if balance < 0 else "zero"
    choices: list[TipChoice] = []
    tips_wide = False
    if state == "outstanding" and tips:
        for percent in (0, *tips):
            tip = tip_minor(balance, percent)
            total = money(balance + tip)
            if len(total) > NARROW_TIP_TOTAL:
                tips_wide = True
            choices.append(
                TipChoice(
                    percent=percent,
                    label=formats.percent(percent) if percent else "",
                    amount=money(tip),
                    total=total,
                    total_minor=balance + tip,
                    checked=percent == 0,
                )
            )
    balance_text = money(-balance if balance < 0 else balance)
    shown = [e for e in statement.entries if e.voids_entry_id is None]
    canceled = {original_id for original_id, _ in statement.voids.values()}
    if len(shown) < len(statement.entries):  # voids given among the entries: what they cancel too
        canceled.update(e.voids_entry_id for e in statement.entries if e.voids_entry_id is not None)
    return PageFacts(
        language=formats.language,
        customer_name=statement.customer_name,
        state=state,
        balance=balance_text,
        balance_size=balance_size(balance_text),
        total=balance_text if state == "outstanding" else money(0),
        tips=tuple(choices),
        tips_wide=tips_wide,
        entries=entry_lines(shown, canceled, money, formats.dates),
        older=max(0, (statement.entry_count or len(shown)) - len(shown)),
        as_of=formats.dates.moment(statement.last_change),
        pay_options=pay_options,
    )


def entry_lines(entries: list[Entry], canceled: set, money, dates: LocalDates) -> list[EntryLine]:
    """The table's rows (``entries`` hold no void), those whose id is in ``canceled`` marked."""
    if not entries:
        return []
    make = tuple.__new__  # EntryLine(...) without its Python-level __new__: a build makes millions
    return [
        make(
            EntryLine,
            (
                date_text,
                date_iso,
                entry.description,
                money(entry.amount_minor),
                "charge" if entry.amount_minor > 0 else "credit",
                entry.id in canceled,
            ),
        )
        for entry, (date_text, date_iso) in zip(
            entries, dates.entry_dates_of([e.posted_at for e in entries]), strict=True
        )
    ]


def balance_size(amount: str) -> str:
    """How large the balance can be drawn and still fit a 320 px screen on one line."""
    if len(amount) <= 10:
        return "normal"
    return "long" if len(amount) <= 14 else "longer"
