"""A customer's statement for a period, and its printable HTML."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .. import ledger
from .customers import customer_balances
from .workspace import Workspace

if TYPE_CHECKING:
    from .. import statement
    from ..ledger import Customer
    from ..statement import Statement


def customer_statement(
    ws: Workspace, customer: Customer, *, start: dt.date | None = None, end: dt.date | None = None
) -> statement.Statement:
    """The customer's entries in a period (local dates, both ends included) with opening and running balances."""
    from .. import statement

    return statement.read_statement(ws.conn, customer, start=start, end=end, timezone=ws.settings.timezone)


@dataclass(frozen=True)
class StatementMade:
    """A customer's statement for a period and, when one was asked for, where its printable HTML was written."""

    customer: Customer
    statement: Statement
    start: dt.date | None
    end: dt.date | None
    html_file: Path | None = None


def make_statement(
    ws: Workspace, customer_key: str, *, start: str | None = None, end: str | None = None, html_file: Path | None = None
) -> StatementMade:
    """The customer's statement from ``start`` to ``end`` (``YYYY-MM-DD``, local dates, both included);
    with ``html_file``, also its printable HTML (with the QR code of their link) written there, never into build/.

    Refusals come in this order: a bad date, an unknown customer, a period that ends before it starts, a file
    that may not be written.
    """
    from zoneinfo import ZoneInfo

    from .. import statement
    from ..site import check_output_path, write_private_file

    first, last = statement.parse_day(start, "--from"), statement.parse_day(end, "--to")
    customer = ledger.find_customer(ws.conn, customer_key)
    stmt = customer_statement(ws, customer, start=first, end=last)
    if html_file is None:
        return StatementMade(customer, stmt, first, last)
    from ..render import Renderer

    target = check_output_path(ws.site, html_file, "statement file")
    nonce = customer_balances(ws, customer)[0].link_nonce
    settings = ws.settings
    today = dt.datetime.now(ZoneInfo(settings.timezone)).date()
    renderer = Renderer(settings, ws.site.templates_dir)
    html = statement.render_html(settings, renderer, stmt, url=ws.url(nonce) if nonce else None, today=today)
    write_private_file(target, html.encode("utf-8"))
    return StatementMade(customer, stmt, first, last, target)
