"""`paylink charge`, `credit` and `void`: entries in, balance out."""

import re

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


def _post(ctx: Context, kind: str, customer_key, amount, description, date, key, as_json) -> None:
    from ..actions import post_as_written

    _refuse_misread_words(kind, customer_key, amount, description)
    c, posted = post_as_written(ctx.ws, kind, customer_key, amount, description[0], day=date, idempotency_key=key)
    minor = posted.entry.amount_minor
    verb = "Charged" if minor > 0 else "Credited"
    doc = _posted_document(ctx, posted)
    emit(
        as_json,
        doc,
        f"{verb} {ctx.money(abs(minor))} to {c.name} (entry {posted.entry.id}). "
        f"Balance: {ctx.money(posted.balance_minor)} ({doc['state']}).",
    )


_NUMBER_LIKE = re.compile(r"[-−(][0-9.,]")


def _refuse_misread_words(kind: str, customer_key: str, amount: str, description: tuple[str, ...]) -> None:
    """Say what went wrong when the words cannot be CUSTOMER AMOUNT DESCRIPTION.

    The commands let an unknown option through as a word (so that ``-50`` reaches
    the amount check and is told to use the other kind), so a misspelt option
    is refused here; a description in several words was meant as one.
    """
    for word in (customer_key, *description):
        if word.startswith("-") and len(word) > 1 and not _NUMBER_LIKE.match(word):
            raise click.NoSuchOption(word.split("=", 1)[0])
    if amount.startswith("--"):
        raise click.NoSuchOption(amount.split("=", 1)[0])
    if len(description) > 1:
        words = " ".join(description)
        example = f'paylink {kind} {customer_key[:40]} {amount[:20]} "{words[:60]}"'
        raise click.UsageError(f"The description must be one argument: put it in quotes, e.g. {example}")


def posting_options(func):
    func = click.option(
        "--key", help="Idempotency key: a retry with the same key posts nothing and prints the first result."
    )(func)
    func = click.option(
        "--date",
        metavar="DATE",
        help="The entry's date in the site's time zone: YYYY-MM-DD or the locale's short date, e.g. 11/20/2026"
        " (default: now).",
    )(func)
    return func


# Unknown options come through as words: "-50" is a negative amount, refused with a hint, not option "-5".
POSTING_SETTINGS = {"ignore_unknown_options": True}


@cli.command(context_settings=POSTING_SETTINGS)
@click.argument("customer_key", metavar="CUSTOMER")
@click.argument("amount")
@click.argument("description", nargs=-1, required=True, metavar="DESCRIPTION")
@posting_options
@json_option
@pass_ctx
@friendly_errors
def charge(ctx: Context, customer_key, amount, description, date, key, as_json) -> None:
    """Post a charge of AMOUNT to CUSTOMER (id or ref).

    AMOUNT is in major units, as the site's locale writes money: 12, 12.50 or
    $1,200.00 on en_US (1.200,50 € on de_DE); no sign (post a credit to take
    money off). Put a DESCRIPTION of several words in quotes. The customer's
    page is updated before this returns. Exit status: 0 posted (or an
    idempotent retry), 1 invalid input, unknown customer or a reused key with
    other details, 2 a misread command line.

    \b
    Example:
      paylink charge JANE 120.50 "Drain cleaning" --date 2026-11-20
      paylink charge JANE '$1,200.00' "Boiler" --date 11/20/2026
    """
    _post(ctx, "charge", customer_key, amount, description, date, key, as_json)


@cli.command(context_settings=POSTING_SETTINGS)
@click.argument("customer_key", metavar="CUSTOMER")
@click.argument("amount")
@click.argument("description", nargs=-1, required=True, metavar="DESCRIPTION")
@posting_options
@json_option
@pass_ctx
@friendly_errors
def credit(ctx: Context, customer_key, amount, description, date, key, as_json) -> None:
    """Post a credit of AMOUNT to CUSTOMER: a payment received, a refund or a discount.

    AMOUNT is written as for charge, without a sign. The customer's page is
    updated before this returns. Exit status: 0 posted (or an idempotent
    retry), 1 invalid input, unknown customer or a reused key, 2 a misread
    command line.

    \b
    Example:
      paylink credit JANE 120.50 "Paid by check"
    """
    _post(ctx, "credit", customer_key, amount, description, date, key, as_json)


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
