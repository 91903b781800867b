"""`paylink statement` and `paylink backup`: the ledger on paper and off the machine."""

import io
from pathlib import Path

import click

from .base import (
    Context,
    _count,
    _table,
    cli,
    emit,
    friendly_errors,
    json_option,
    pass_ctx,
)

# --- statements and backups ------------------------------------------------------

STATEMENT_COLUMNS = [
    "id",
    "date",
    "description",
    "amount",
    "amount_minor",
    "balance",
    "balance_minor",
    "voided",
    "voids",
]


@cli.command()
@click.argument("customer_key", metavar="CUSTOMER")
@click.option("--from", "start", metavar="YYYY-MM-DD", help="First day of the period (default: the first entry).")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="Last day of the period, included (default: today).")
@click.option("--csv", "as_csv", is_flag=True, help="Print the entries as CSV: " + ",".join(STATEMENT_COLUMNS))
@click.option(
    "--html",
    "html_file",
    metavar="FILE",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write a printable statement (with the QR code of their link) to FILE, outside build/.",
)
@json_option
@pass_ctx
@friendly_errors
def statement(ctx: Context, customer_key, start, end, as_csv, html_file, as_json) -> None:
    """Print CUSTOMER's statement: every entry in a period with a running balance.

    Dates are days in the site's time zone, both ends included; the opening
    balance is everything before --from. --html writes a printable statement
    (one A4 or Letter sheet for 20 entries) for the customer; it holds their
    link's QR code, so it is never written into build/. Exit status: 0 done,
    1 unknown customer, a bad date, or a FILE inside build/.

    \b
    Example:
      paylink statement JANE --from 2026-10-01 --to 2026-10-31 --html jane-october.html
    """
    import csv

    from ..actions import make_statement

    if as_csv and as_json:
        raise click.UsageError("give --csv or --json, not both")
    made = make_statement(ctx.ws, customer_key, start=start, end=end, html_file=html_file)
    c, stmt, first, last = made.customer, made.statement, made.start, made.end
    rows = [
        {
            "id": line.entry.id,
            "date": line.day.isoformat() if line.day else line.entry.posted_at,
            "description": line.entry.description,
            "amount": ctx.major(line.entry.amount_minor),
            "amount_minor": line.entry.amount_minor,
            "balance": ctx.major(line.balance_minor),
            "balance_minor": line.balance_minor,
            "voided": line.voided,
            "voids": line.entry.voids_entry_id,
        }
        for line in stmt.lines
    ]
    if made.html_file is not None and not (as_json or as_csv):
        click.echo(
            f"Wrote the statement for {c.name} ({len(rows)} {'entry' if len(rows) == 1 else 'entries'}) to {made.html_file}"
        )
        return
    if as_csv:
        buffer = io.StringIO()
        out = csv.writer(buffer, lineterminator="\n")
        out.writerow(STATEMENT_COLUMNS)
        for r in rows:
            out.writerow(
                [
                    ("true" if r[k] else "false") if k == "voided" else ("" if r[k] is None else r[k])
                    for k in STATEMENT_COLUMNS
                ]
            )
        click.echo(buffer.getvalue(), nl=False)
        return
    document = {
        "customer_id": c.id,
        "opening_balance": ctx.major(stmt.opening_minor),
        "opening_balance_minor": stmt.opening_minor,
        "closing_balance": ctx.major(stmt.closing_minor),
        "closing_balance_minor": stmt.closing_minor,
        "entries": rows,
    }
    period = f"{first.isoformat() if first else 'the first entry'} to {last.isoformat() if last else 'today'}"
    lines = [f"Statement for {c.name} (customer {c.id}{', ref ' + c.ref if c.ref else ''}), {period}", ""]
    table = [["", "", "Opening balance", "", ctx.money(stmt.opening_minor)]]
    for line in stmt.lines:
        e = line.entry
        mark = " (voided)" if line.voided else ""
        table.append(
            [
                str(e.id),
                line.day.isoformat() if line.day else e.posted_at,
                e.description + mark,
                ctx.money(e.amount_minor),
                ctx.money(line.balance_minor),
            ]
        )
    table.append(["", "", "Closing balance", "", ctx.money(stmt.closing_minor)])
    lines += _table(["ENTRY", "DATE", "DESCRIPTION", "AMOUNT", "BALANCE"], table, right={0, 3, 4})
    if not stmt.lines:
        lines += ["", "No entries in this period."]
    emit(as_json, document, lines)


@cli.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@json_option
@pass_ctx
@friendly_errors
def backup(ctx: Context, file, as_json) -> None:
    """Write one file (mode 0600) that brings the site back: the ledger, paylink.key, paylink.toml, site_templates/.

    The ledger is a consistent copy, even while other commands write to it.
    FILE (a ZIP file) holds the signing key and customers' details: keep it as
    private as paylink.key. It is replaced only by a complete, checked backup;
    never written into build/, never over the site's own files. Restore it
    with `paylink restore FILE DIR`. Exit status: 0 written, 1 FILE is not
    allowed or the backup failed (FILE is then unchanged).

    \b
    Example:
      paylink backup ~/backups/paylink-$(date +%F).zip
    """
    from ..actions import back_up

    made = back_up(ctx.ws, file)
    emit(
        as_json,
        {"path": str(made.path), "entries": made.entries, "customers": made.customers},
        f"Backed up {_count(made.customers, 'customer')} and {made.entries}"
        f" {'entry' if made.entries == 1 else 'entries'} to {made.path}",
    )


@cli.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("directory", metavar="DIR", type=click.Path(path_type=Path, file_okay=False))
@json_option
@friendly_errors
def restore(file, directory, as_json) -> None:
    """Make a new site in DIR from FILE, a backup `paylink backup` wrote, and build its pages.

    Every link that was live when the backup was taken opens again, showing
    the balance at that moment. DIR must be new or empty, and not inside
    another site. The restored site does not publish by itself: run
    `paylink --site DIR publish --full` to make the CDN match it. Exit status:
    0 restored, 1 DIR is not allowed or FILE is not a paylink backup (nothing
    is then written).

    \b
    Example:
      paylink restore ~/backups/paylink-2026-11-20.zip ~/shop-restored
    """
    from ..actions import restore as restore_site

    restored = restore_site(file, directory)
    emit(
        as_json,
        {
            "path": str(restored.path),
            "entries": restored.entries,
            "customers": restored.customers,
            "links": restored.links,
        },
        f"Restored {_count(restored.customers, 'customer')}, {restored.entries}"
        f" {'entry' if restored.entries == 1 else 'entries'} and {_count(restored.links, 'live link')}"
        f" into {restored.path}",
    )
