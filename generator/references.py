"""A customer's payment reference: what every pay method carries, and what `import payments` matches.

Every customer has one (CONTRACT §8): their ``ref``, else ``C`` + their id.
The SEPA creditor reference (ISO 11649, "RF" + two check digits + up to 21
letters and digits) is derived from it; a payment that comes back with either
form finds the same customer (``reference_keys``).
"""

from __future__ import annotations

import re

from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")
RF_BODY_MAX = 21  # ISO 11649: at most 25 characters in all


def payment_reference(customer_id: int, ref: str | None) -> str:
    """The customer's payment reference: their ref, else ``C`` + their id (``C42``)."""
    return ref if ref else f"C{customer_id}"


def reference_key(text: str) -> str:
    """The form references are compared in: letters and digits only, upper case (``jane-1`` → ``JANE1``)."""
    return _NOT_ALNUM.sub("", text).upper()


def rf_reference(customer_id: int, ref: str | None) -> str:
    """The ISO 11649 creditor reference for a customer, e.g. ``RF09JANE``.

    Its body is the payment reference's letters and digits; a reference with
    none, or more than 21, uses ``C`` + id instead, so every customer has one.
    """
    body = reference_key(payment_reference(customer_id, ref))
    if not body or len(body) > RF_BODY_MAX:
        body = f"C{customer_id}"
    # ISO 11649's check digits are ISO 7064 MOD 97-10 over the body then "RF" (tests/test_pay*.py check the
    # result with stdnum's own validator; not here, on every page: it cost as much as computing them).
    return "RF" + mod_97_10.calc_check_digits(body + "RF") + body


def rf_body(text: str) -> str | None:
    """The body of a valid ISO 11649 reference found as the whole of ``text`` (spaces allowed), else None."""
    compact = iso11649.compact(text) if text else ""
    if compact.startswith("RF") and iso11649.is_valid(compact):
        return compact[4:]
    return None
