"""Importing customers, entries and received payments from files (each all or nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .workspace import Workspace, keeping_pages_current

if TYPE_CHECKING:
    from .. import payments
    from ..imports import Imported


def import_customers(ws: Workspace, path: Path, *, skip_existing: bool = False) -> Imported:
    """Import customers from a CSV file (all or nothing); rows for customers already here are refused
    unless ``skip_existing``."""
    from .. import imports

    return imports.import_customers(ws.conn, path, skip_existing=skip_existing, language=ws.settings.page_language)


def import_entries(ws: Workspace, path: Path, *, again: bool = False, new_only: bool = False) -> Imported:
    """Import entries from a CSV file (all or nothing); the affected pages are written before this returns.

    A file imported before is refused unless ``again``; rows an earlier import
    posted are refused unless ``new_only`` (skipped) or ``again`` (posted).
    """
    from .. import imports

    s = ws.settings
    with keeping_pages_current(ws):
        return imports.import_entries(
            ws.conn,
            path,
            currency=s.currency,
            timezone=s.timezone,
            locale=s.locale,
            language=s.page_language,
            again=again,
            new_only=new_only,
        )


def import_payments(
    ws: Workspace, path: Path, *, file_format: str | None = None, skip_unmatched: bool = False
) -> payments.PaymentsImported:
    """Post each payment received in a PayPal, Venmo, Stripe, camt.053 or plain export as a credit (all or nothing).

    The affected pages are written (and published) before this returns.
    """
    from .. import payments
    from ..i18n import page_language, translations

    s = ws.settings
    with keeping_pages_current(ws):
        return payments.import_payments(
            ws.conn,
            path,
            currency=s.currency,
            timezone=s.timezone,
            locale=s.locale,
            page_language=lambda language: page_language(s, language),
            translate=lambda language, text: translations(language).gettext(text),
            file_format=file_format,
            skip_unmatched=skip_unmatched,
        )
