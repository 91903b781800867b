"""The business's things as plain values: customers, entries, postings and balances.

Shared by the ledger (which reads and writes them) and the renderer (which
shows them); it imports nothing of paylink's, so the renderer need not know
how they are stored.
"""

from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class Customer:
    """A customer of the business."""

    id: int
    name: str
    email: str | None
    phone: str | None
    ref: str | None
    language: str | None = None


class Entry(NamedTuple):
    """One line of a customer's ledger: a charge (> 0) or a credit (< 0).

    A named tuple, not a dataclass: a build makes two dozen a page, and a
    tuple is made four times faster (immutable all the same).
    """

    id: int
    customer_id: int
    amount_minor: int
    description: str
    posted_at: str
    voids_entry_id: int | None = None


@dataclass(frozen=True)
class Posted:
    """The result of posting an entry: the entry and the balance right after it."""

    entry: Entry
    balance_minor: int


def state_of(balance_minor: int) -> str:
    """Return "outstanding", "credit" or "zero" for a balance."""
    if balance_minor > 0:
        return "outstanding"
    if balance_minor < 0:
        return "credit"
    return "zero"


@dataclass(frozen=True)
class CustomerBalance:
    """A customer with their balance and live link (if any), and whom they were merged into (if they were)."""

    customer: Customer
    balance_minor: int
    link_nonce: str | None
    merged_into: int | None = None

    @property
    def state(self) -> str:
        return state_of(self.balance_minor)
