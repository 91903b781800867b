"""`paylink customer ...`: add, edit, list, show, remove and merge customers."""

import io

import click

from .base import (
    Context,
    _clip,
    _table,
    cli,
    emit,
    friendly_errors,
    json_option,
    pass_ctx,
)

# --- customers -------------------------------------------------------------------


@cli.group()
def customer() -> None:
    """Add, change, list, show, remove and merge customers.

    \b
    Example:
      paylink customer add "Jane Doe" --phone 555-0101 --ref JANE
    """


def _customer_document(c) -> dict:
    return {"id": c.id, "name": c.name, "email": c.email, "phone": c.phone, "ref": c.ref, "language": c.language}


@customer.command("add")
@click.argument("name")
@click.option("--email", help="The customer's email address.")
@click.option("--phone", help="The customer's phone number.")
@click.option("--ref", help="Your own unique reference for the customer (not all digits; any case).")
@click.option("--language", help="The language of their page and messages: en or es (default: the site's).")
@json_option
@pass_ctx
@friendly_errors
def customer_add(ctx: Context, name, email, phone, ref, language, as_json) -> None:
    """Add a customer called NAME.

    Exit status: 0 added, 1 invalid input or a duplicate ref.

    \b
    Example:
      paylink customer add "Jane Doe" --phone 555-0101 --email jane@example.com --ref JANE
    """
    from ..actions import add_customer

    c = add_customer(ctx.ws, name, email=email, phone=phone, ref=ref, language=language)
    emit(
        as_json,
        _customer_document(c),
        f"Added customer {c.id}: {c.name}" + (f" (ref {c.ref})" if c.ref else ""),
    )


@customer.command("edit")
@click.argument("customer_key", metavar="CUSTOMER")
@click.option("--name", help="The customer's new name.")
@click.option("--email", help='The new email address ("" removes it).')
@click.option("--phone", help='The new phone number ("" removes it).')
@click.option("--ref", help='The new ref ("" removes it).')
@click.option("--language", help='The language of their page and messages: en or es ("" means the site\'s).')
@click.option(
    "--reminders",
    metavar="CHANNELS",
    help="The reminders they agreed to: email,sms, email, sms, or off (e.g. they replied STOP).",
)
@json_option
@pass_ctx
@friendly_errors
def customer_edit(ctx: Context, customer_key, name, email, phone, ref, language, reminders, as_json) -> None:
    """Change CUSTOMER's name, email, phone, ref, language or consent to reminders.

    Only what you give changes; an empty value ("") removes an email, phone,
    ref or language. --reminders records, with the time, which channels the
    customer agreed to be reminded on (off: none). Their page is rewritten
    before this returns. Exit status: 0 changed, 1 unknown customer, invalid
    input or a ref another customer has.

    \b
    Example:
      paylink customer edit JANE --phone 555-0199 --email ""
      paylink customer edit JANE --reminders off
    """
    from ..actions import edit_customer

    changes = {"name": name, "email": email, "phone": phone, "ref": ref, "language": language}
    if all(value is None for value in changes.values()) and reminders is None:
        raise click.UsageError("nothing to change: give --name, --email, --phone, --ref, --language or --reminders")
    edited = edit_customer(ctx.ws, customer_key, reminders=reminders, **changes)
    c = edited.customer
    details = ", ".join(
        f"{k} {v if v is not None else '(none)'}" for k, v in _customer_document(c).items() if k != "id"
    )
    if edited.reminders is not None:
        details += f", reminders {','.join(edited.reminders) or 'off'}"
    emit(as_json, _customer_document(c), f"Changed customer {c.id}: {details}")


def _customer_row(ctx: Context, cb) -> dict:
    row = {
        "id": cb.customer.id,
        "name": cb.customer.name,
        "ref": cb.customer.ref,
        "balance": ctx.major(cb.balance_minor),
        "balance_minor": cb.balance_minor,
        "state": cb.state,
        "url": ctx.ws.url(cb.link_nonce) if cb.link_nonce else None,
    }
    if cb.merged_into is not None:
        row["merged_into"] = cb.merged_into  # only merged customers have it (shown with --all, and by show)
    return row


CUSTOMER_CSV_COLUMNS = ["id", "name", "ref", "email", "phone", "language", "balance", "state", "url"]


@customer.command("list")
@click.option("--owing", is_flag=True, help="Only customers with an outstanding balance.")
@click.option("--csv", "as_csv", is_flag=True, help="Print a CSV for mail merge: " + ",".join(CUSTOMER_CSV_COLUMNS))
@click.option("--all", "show_all", is_flag=True, help="Also customers merged into another (marked as merged).")
@json_option
@pass_ctx
@friendly_errors
def customer_list(ctx: Context, owing, as_csv, show_all, as_json) -> None:
    """List every customer with their balance, state and link.

    Customers merged into another are left out unless --all (in JSON they
    carry "merged_into", in the table "merged into N"). Exit status: 0
    listed, 1 no site here.

    \b
    Example:
      paylink customer list --owing --csv > reminders.csv
    """
    import csv

    from ..actions import customer_balances

    if as_csv and as_json:
        raise click.UsageError("give --csv or --json, not both")
    balances = [cb for cb in customer_balances(ctx.ws, include_merged=show_all) if cb.balance_minor > 0 or not owing]
    rows = [_customer_row(ctx, cb) for cb in balances]
    if as_csv:
        buffer = io.StringIO()
        out = csv.writer(buffer, lineterminator="\n")
        out.writerow(CUSTOMER_CSV_COLUMNS)
        for cb, row in zip(balances, rows, strict=True):
            c = cb.customer
            out.writerow([c.id, c.name, c.ref, c.email, c.phone, c.language, row["balance"], row["state"], row["url"]])
        click.echo(buffer.getvalue(), nl=False)
        return
    if as_json:
        emit(True, rows, "")
        return
    if not rows:
        if owing:
            click.echo("Nobody owes anything.")
        else:
            click.echo("No customers yet. Add one with: paylink customer add NAME")
        return
    table = [
        [
            str(r["id"]),
            _clip(r["name"]),
            _clip(r["ref"] or ""),
            ctx.money(r["balance_minor"]),
            r["state"],
            f"(merged into {r['merged_into']})" if "merged_into" in r else r["url"] or "(no link)",
        ]
        for r in rows
    ]
    emit(False, None, _table(["ID", "NAME", "REF", "BALANCE", "STATE", "LINK"], table, right={0, 3}))


@customer.command("show")
@click.argument("customer_key", metavar="CUSTOMER")
@json_option
@pass_ctx
@friendly_errors
def customer_show(ctx: Context, customer_key, as_json) -> None:
    """Show one customer (by id or ref): balance, link and the last 20 entries.

    Exit status: 0 shown, 1 no such customer.

    \b
    Example:
      paylink customer show JANE
    """
    from ..actions import customer_details

    shown = customer_details(ctx.ws, customer_key)
    c = shown.customer
    row = _customer_row(ctx, shown.balance)
    entries = [recent.entry for recent in shown.entries]
    days = {recent.entry.id: recent.day.isoformat() if recent.day else None for recent in shown.entries}
    row.update(
        email=c.email,
        phone=c.phone,
        language=c.language,
        reminders=shown.reminders,
        reference=shown.reference,
        entries=[
            {
                "id": e.id,
                "date": days[e.id],
                "kind": "charge" if e.amount_minor > 0 else "credit",
                "amount": ctx.major(e.amount_minor),
                "amount_minor": e.amount_minor,
                "description": e.description,
                "posted_at": e.posted_at,
                "voids_entry_id": e.voids_entry_id,
            }
            for e in entries
        ],
    )
    lines = [
        f"{c.name} (customer {c.id}{', ref ' + c.ref if c.ref else ''})"
        + (f", merged into customer {row['merged_into']}" if "merged_into" in row else ""),
        f"  Email:   {c.email or '-'}",
        f"  Phone:   {c.phone or '-'}",
        f"  Payment reference: {shown.reference}",
        f"  Balance: {ctx.money(row['balance_minor'])} ({row['state']})",
        f"  Link:    {row['url'] or '(none — paylink link share ' + str(c.ref or c.id) + ')'}",
        f"  Language: {c.language or ctx.site.settings.page_language + ' (the site' + chr(39) + 's)'}",
        f"  Reminders: {', '.join(row['reminders']) or 'off'}",
        "",
    ]
    if entries:
        lines += _table(
            ["ENTRY", "DATE", "AMOUNT", "DESCRIPTION"],
            [
                [
                    str(e.id),
                    days[e.id] or e.posted_at,
                    ctx.money(e.amount_minor),
                    e.description,
                ]
                for e in entries
            ],
            right={0, 2},
        )
    else:
        lines.append("No entries yet.")
    emit(as_json, row, lines)


@customer.command("remove")
@click.argument("customer_key", metavar="CUSTOMER")
@click.option(
    "--offline",
    is_flag=True,
    help="Remove it here even when the publish store cannot be reached (the old link opens there until"
    " `paylink publish` succeeds).",
)
@json_option
@pass_ctx
@friendly_errors
def customer_remove(ctx: Context, customer_key, offline, as_json) -> None:
    """Remove CUSTOMER, who has no entries; their link stops working and their page goes.

    A customer with entries cannot be removed (entries are never deleted):
    fold a duplicate into another customer with `paylink customer merge`.
    Exit status: 0 removed, 1 unknown customer or one with entries.

    \b
    Example:
      paylink customer remove ANN2
    """
    from ..actions import remove_customer

    c = remove_customer(ctx.ws, customer_key, offline=offline)
    emit(as_json, {"id": c.id, "removed": True}, f"Removed customer {c.id}: {c.name}")


@customer.command("merge")
@click.argument("source_key", metavar="FROM")
@click.argument("target_key", metavar="INTO")
@click.option(
    "--offline",
    is_flag=True,
    help="Merge here even when the publish store cannot be reached (FROM's old link opens there until"
    " `paylink publish` succeeds).",
)
@json_option
@pass_ctx
@friendly_errors
def customer_merge(ctx: Context, source_key, target_key, offline, as_json) -> None:
    """Merge duplicate customer FROM into INTO: FROM's balance moves to INTO.

    Two entries say so ("Moved to INTO" on FROM, "Moved from FROM" on INTO);
    a zero balance moves nothing and posts nothing. No entry is edited.
    FROM's link stops working, `customer list` shows FROM only with --all,
    and `statement FROM` still shows their entries. FROM can take no more
    charges or credits. Exit status: 0 merged, 1 unknown customer, the same
    customer twice, or a customer already merged.

    \b
    Example:
      paylink customer merge 7 JANE
    """
    from ..actions import merge_customers

    merged = merge_customers(ctx.ws, source_key, target_key, offline=offline)
    source, target = merged.source, merged.target
    doc = {
        "from": source.id,
        "into": target.id,
        "moved": ctx.major(merged.moved_minor),
        "moved_minor": merged.moved_minor,
    }
    what = f"moved {ctx.money(merged.moved_minor)}" if merged.moved_minor else "nothing owed to move"
    emit(as_json, doc, f"Merged customer {source.id} ({source.name}) into {target.id} ({target.name}): {what}.")
