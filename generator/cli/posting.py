"""`paylink charge`, `credit` and `void`: entries in, balance out."""

import click

from .base import (
    Context,
    cli,
    emit,
    friendly_errors,
    json_option,
    pass_ctx,
)

# --- posting ---------------------------------------------------------------------


def _posted_document(ctx: Context, posted) -> dict:
    from ..model import state_of

    e = posted.entry
    return {
        "entry_id": e.id,
        "customer_id": e.customer_id,
        "amount": ctx.major(e.amount_minor),
        "amount_minor": e.amount_minor,
        "balance": ctx.major(posted.balance_minor),
        "balance_minor": posted.balance_minor,
        "state": state_of(posted.balance_minor),
    }


def _post(ctx: Context, customer_key, amount, description, date, key, sign: int, as_json: bool) -> None:
    from ..actions import post_entry
    from ..money import parse_amount

    minor = parse_amount(amount, ctx.site.settings.currency) * sign
    c, posted = post_entry(ctx.ws, customer_key, minor, description, day=date, idempotency_key=key)
    verb = "Charged" if sign > 0 else "Credited"
    doc = _posted_document(ctx, posted)
    emit(
        as_json,
        doc,
        f"{verb} {ctx.money(abs(minor))} to {c.name} (entry {posted.entry.id}). "
        f"Balance: {ctx.money(posted.balance_minor)} ({doc['state']}).",
    )


def posting_options(func):
    func = click.option(
        "--key", help="Idempotency key: a retry with the same key posts nothing and prints the first result."
    )(func)
    func = click.option(
        "--date", metavar="YYYY-MM-DD", help="The entry's date in the site's time zone (default: now)."
    )(func)
    return func


@cli.command()
@click.argument("customer_key", metavar="CUSTOMER")
@click.argument("amount")
@click.argument("description")
@posting_options
@json_option
@pass_ctx
@friendly_errors
def charge(ctx: Context, customer_key, amount, description, date, key, as_json) -> None:
    """Post a charge of AMOUNT to CUSTOMER (id or ref).

    AMOUNT is in major units, e.g. 12 or 12.50. The customer's page is updated
    before this returns. Exit status: 0 posted (or an idempotent retry), 1
    invalid input, unknown customer or a reused key with other details.

    \b
    Example:
      paylink charge JANE 120.50 "Drain cleaning" --date 2026-11-20
    """
    _post(ctx, customer_key, amount, description, date, key, +1, as_json)


@cli.command()
@click.argument("customer_key", metavar="CUSTOMER")
@click.argument("amount")
@click.argument("description")
@posting_options
@json_option
@pass_ctx
@friendly_errors
def credit(ctx: Context, customer_key, amount, description, date, key, as_json) -> None:
    """Post a credit of AMOUNT to CUSTOMER: a payment received, a refund or a discount.

    The customer's page is updated before this returns. Exit status: 0 posted
    (or an idempotent retry), 1 invalid input, unknown customer or a reused key.

    \b
    Example:
      paylink credit JANE 120.50 "Paid by check"
    """
    _post(ctx, customer_key, amount, description, date, key, -1, as_json)


@cli.command()
@click.argument("entry_id", type=click.IntRange(min=1), metavar="ENTRY_ID")
@click.option("--reason", help="Why the entry is voided; for your records, never shown to the customer.")
@json_option
@pass_ctx
@friendly_errors
def void(ctx: Context, entry_id, reason, as_json) -> None:
    """Void entry ENTRY_ID by posting its reversing entry.

    Entries are never edited or deleted. An entry can be voided once; a void
    cannot be voided. Exit status: 0 voided, 1 no such entry or not voidable.

    \b
    Example:
      paylink void 42 --reason "typed the wrong amount"
    """
    from ..actions import void_entry

    posted = void_entry(ctx.ws, entry_id, reason=reason)
    doc = _posted_document(ctx, posted)
    emit(
        as_json,
        doc,
        f"Voided entry {entry_id} with entry {posted.entry.id}. Balance: {ctx.money(posted.balance_minor)} ({doc['state']}).",
    )
