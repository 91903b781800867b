"""Payment references (CONTRACT §8): ref else C + id, and the ISO 11649 creditor reference derived from it."""

import pytest
from paylink.references import payment_reference, reference_key, rf_body, rf_reference
from stdnum import iso11649


def test_reference_is_ref_else_c_and_id():
    assert payment_reference(7, "JANE") == "JANE"
    assert payment_reference(42, None) == "C42"


@pytest.mark.parametrize(
    ("customer_id", "ref", "expected"),
    [(1, "JANE", "RF09JANE"), (42, None, f"RF{98 - int('1242' + '2715' + '00') % 97:02d}C42")],
)
def test_rf_reference_has_iso_11649_check_digits(customer_id, ref, expected):
    rf = rf_reference(customer_id, ref)
    assert rf == expected
    assert iso11649.is_valid(rf)
    assert rf_body(rf) == reference_key(payment_reference(customer_id, ref))


def test_rf_reference_falls_back_for_refs_it_cannot_carry():
    assert rf_reference(5, "---").endswith("C5")
    assert rf_reference(5, "X" * 22).endswith("C5")
    assert rf_reference(5, "jane-1").endswith("JANE1")


def test_rf_body_refuses_bad_check_digits():
    assert rf_body("RF10JANE") is None
    assert rf_body("RF09 JANE") == "JANE"
