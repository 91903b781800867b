"""`paylink import customers|entries|payments`: spreadsheets and payment exports in, all or nothing."""

from contextlib import contextmanager
from pathlib import Path

import click

from .base import (
    Context,
    _count,
    cli,
    emit,
    friendly_errors,
    json_option,
    pass_ctx,
)

# --- imports ---------------------------------------------------------------------


@cli.group("import")
def import_() -> None:
    """Import customers, entries or payments received from files (all or nothing)."""


@import_.command("customers")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--skip-existing", is_flag=True, help="Skip rows for customers already added (same ref, or same name and contact)."
)
@json_option
@pass_ctx
@friendly_errors
def import_customers_cmd(ctx: Context, file, skip_existing, as_json) -> None:
    """Import customers from FILE, a CSV with the columns name,email,phone,ref and optionally language.

    The file may be as a spreadsheet saves it: comma- or semicolon-separated,
    header names in any case and order (or in the site's language: nombre,
    correo, teléfono, referencia, idioma), extra columns (ignored, and named on
    stderr). language is en or es. A row for a customer who already exists (the
    same ref; without a ref, the same name with the same email or phone, or the
    same name alone) is refused unless --skip-existing. All or nothing: when
    rows are bad, up to 20 of them are named and nothing is added.

    \b
    Example:
      paylink import customers customers.csv
      paylink import customers customers.csv --skip-existing

    Exit status: 0 imported, 1 bad rows (named in the message).
    """
    from ..actions import import_customers

    with _file_named_first():
        imported = import_customers(ctx.ws, file, skip_existing=skip_existing)
    _note_ignored(imported.ignored_columns, file)
    text = f"Imported {_count(imported.count, 'customer')}"
    if imported.skipped:
        text += f"; skipped {imported.skipped} already here"
    emit(as_json, {"imported": imported.count, "skipped": imported.skipped}, text + ".")


@import_.command("entries")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--again",
    is_flag=True,
    help="Import a file that was imported before, and post rows an earlier import posted"
    " (rows with a key already posted are still skipped).",
)
@click.option(
    "--new-only",
    is_flag=True,
    help="Skip rows an earlier import posted (same customer, kind, amount, date, description).",
)
@json_option
@pass_ctx
@friendly_errors
def import_entries_cmd(ctx: Context, file, again, new_only, as_json) -> None:
    """Import charges and credits from FILE, a CSV with the columns customer,kind,amount,description,date and optionally key.

    customer is an id or ref; kind is charge or credit; amount may be written
    as the site's spreadsheet shows it ($1,200.00, 1.200,50 €); date is
    YYYY-MM-DD or the locale's short date (11/20/2026), empty for today; key is
    an idempotency key, as --key: a row whose key was already posted for that
    customer is skipped. On a Spanish site the header and kinds may be Spanish
    (cliente;tipo;importe;descripción;fecha, cargo/abono). A file imported
    before is refused unless --again; a row without a key equal to one an
    earlier import posted is refused by line unless --new-only (skip it) or
    --again (post it anyway). All or nothing; the affected pages are written
    before this returns.

    \b
    Example:
      paylink import entries march.csv
      paylink import entries march-april.csv --new-only

    Exit status: 0 imported, 1 bad rows (named in the message) or a file already imported.
    """
    from ..actions import import_entries

    if again and new_only:
        raise click.UsageError("give --again or --new-only, not both")
    with _file_named_first():
        imported = import_entries(ctx.ws, file, again=again, new_only=new_only)
    _note_ignored(imported.ignored_columns, file)
    text = f"Imported {imported.count} {'entry' if imported.count == 1 else 'entries'}"
    if imported.skipped:
        why = "same key, or imported before" if new_only else "same key"
        text += f"; skipped {imported.skipped} already posted ({why})"
    emit(as_json, {"imported": imported.count, "skipped": imported.skipped}, text + ".")


@import_.command("payments")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["paypal", "venmo", "stripe", "stripe-checkout", "camt053", "plain"]),
    help="The export's format (default: found from the file's header).",
)
@click.option(
    "--skip-unmatched",
    is_flag=True,
    help="Import the payments that match a customer; list the others, post nothing for them.",
)
@json_option
@pass_ctx
@friendly_errors
def import_payments_cmd(ctx: Context, file, file_format, skip_unmatched, as_json) -> None:
    """Post the payments received in FILE, as a payment service or bank exports them, as credits.

    FILE is PayPal's activity CSV, Venmo's statement CSV, Stripe's payments or
    Checkout Sessions CSV, an ISO 20022 camt.053 bank statement (XML), or a CSV
    with the columns date,amount,reference and optionally id,name. Each payment
    becomes a credit for the customer whose payment reference (their ref, else
    C + id; the RF form too) appears in its reference or note, or in Stripe's
    client_reference_id. A payment already imported (by its transaction id,
    from any file) is skipped, as are fees, refunds, money sent, payments not
    completed and other currencies (counted on stderr). A payment that matches
    no customer is listed and, without --skip-unmatched, nothing is imported.
    All or nothing; the affected pages are written before this returns.

    \b
    Example:
      paylink import payments Venmo_statement.csv
      paylink import payments camt053.xml --skip-unmatched

    Exit status: 0 imported, 1 bad rows, an unreadable file or unmatched payments (named in the message),
    3 imported but the publish store could not be updated (a Warning: line says so).
    """
    from ..actions import import_payments
    from ..errors import quoted

    with _file_named_first():
        imported = import_payments(ctx.ws, file, file_format=file_format, skip_unmatched=skip_unmatched)
    if imported.skipped:
        reasons = ", ".join(f"{n} {reason}" for reason, n in imported.skipped.items())
        click.echo(f"Note: skipped {_count(imported.skipped_count, 'payment')} in {file.name}: {reasons}", err=True)
    unmatched = [
        {
            "line": u.line,
            "amount": ctx.major(u.amount_minor),
            "amount_minor": u.amount_minor,
            "reference": u.reference or None,
            "name": u.name or None,
        }
        for u in imported.unmatched
    ]
    text = [f"Imported {_count(imported.count, 'payment')} from {file.name} ({imported.format})."]
    if imported.skipped:
        text[0] = text[0][:-1] + f"; skipped {imported.skipped_count}."
    if imported.unmatched:
        text.append(f"Not imported, matching no customer ({len(imported.unmatched)}):")
        text += [
            f"  line {u.line}: {ctx.money(u.amount_minor)}"
            + (f" from {quoted(u.name)}" if u.name else "")
            + f", reference {quoted(u.reference)}"
            for u in imported.unmatched
        ]
    document = {"imported": imported.count, "skipped": imported.skipped_count, "unmatched": unmatched}
    emit(as_json, document, text)


@contextmanager
def _file_named_first():
    """An import's refusal starts with the file's name, as written ("march 2026.csv ..."): never capitalised."""
    from ..errors import ImportFailed

    try:
        yield
    except ImportFailed as exc:
        raise click.ClickException(str(exc)) from exc


def _note_ignored(columns: tuple[str, ...], file: Path) -> None:
    """Tell the owner, on stderr and in one line, which of the file's columns were left out."""
    names = list(dict.fromkeys(columns))
    if names:
        shown = ", ".join(repr(c if len(c) <= 80 else c[:79] + "…") for c in names[:10])
        more = f" and {len(names) - 10} more" if len(names) > 10 else ""
        click.echo(f"Note: ignored column{'s' if len(names) > 1 else ''} {shown}{more} in {file.name}", err=True)
