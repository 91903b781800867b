"""`paylink link ...`: give, share, show, list, rotate and revoke customers' links."""

import sys
from pathlib import Path

import click

from .base import (
    Context,
    _clip,
    _confirm,
    _table,
    cli,
    emit,
    friendly_errors,
    json_option,
    pass_ctx,
    warn_if_loopback,
)

# --- links -----------------------------------------------------------------------


@cli.group()
def link() -> None:
    """Give customers their link, share it, show it, rotate it or turn it off.

    \b
    Example:
      paylink link share JANE
    """


@link.command("generate")
@click.argument("customer_key", metavar="CUSTOMER", required=False)
@click.option("--all", "all_customers", is_flag=True, help="Give every customer without a link a new one.")
@json_option
@pass_ctx
@friendly_errors
def link_generate(ctx: Context, customer_key, all_customers, as_json) -> None:
    """Give CUSTOMER a link (or every customer with --all).

    A customer who already has a link keeps it: it is printed unchanged. The
    page is written before this returns. Exit status: 0 done, 1 unknown customer.

    \b
    Example:
      paylink link generate JANE
    """
    from ..actions import give_links

    if all_customers == bool(customer_key):
        raise click.UsageError("give either CUSTOMER or --all")
    given = give_links(ctx.ws, None if all_customers else customer_key)
    docs = [{"customer_id": c.id, "url": ctx.ws.url(link)} for c, link in given]
    warn_if_loopback(ctx)
    if not all_customers:
        emit(as_json, docs[0], docs[0]["url"])
    elif as_json or not docs:
        emit(as_json, docs, "No customers yet.")
    else:
        table = [[str(c.id), c.name, c.ref or "", ctx.ws.url(link)] for c, link in given]
        emit(False, None, _table(["ID", "NAME", "REF", "LINK"], table, right={0}))


@link.command("show")
@click.argument("customer_key", metavar="CUSTOMER")
@json_option
@pass_ctx
@friendly_errors
def link_show(ctx: Context, customer_key, as_json) -> None:
    """Print CUSTOMER's current link.

    Exit status: 0 shown, 1 unknown customer or no link.

    \b
    Example:
      paylink link show JANE
    """
    from ..actions import current_link

    c, current = current_link(ctx.ws, customer_key)
    url = ctx.ws.url(current)
    emit(as_json, {"customer_id": c.id, "url": url}, url)


@link.command("list")
@json_option
@pass_ctx
@friendly_errors
def link_list(ctx: Context, as_json) -> None:
    """List every live link with the customer's name and ref.

    Exit status: 0 listed, 1 no site here.

    \b
    Example:
      paylink link list --json
    """
    from ..actions import customer_balances

    docs = [
        {
            "customer_id": cb.customer.id,
            "name": cb.customer.name,
            "ref": cb.customer.ref,
            "url": ctx.ws.url(cb.link_nonce),
        }
        for cb in customer_balances(ctx.ws)
        if cb.link_nonce
    ]
    if as_json or docs:
        table = [[str(d["customer_id"]), _clip(d["name"]), _clip(d["ref"] or ""), d["url"]] for d in docs]
        emit(as_json, docs, _table(["ID", "NAME", "REF", "LINK"], table, right={0}))
    else:
        click.echo("No links yet. Give one with: paylink link share CUSTOMER")


@link.command("share")
@click.argument("customer_key", metavar="CUSTOMER")
@click.option(
    "--qr",
    "qr_file",
    metavar="FILE",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the link as a QR code to FILE: .svg or .png (outside build/).",
)
@click.option("--copy", is_flag=True, help="Put the link on the clipboard (OSC 52; needs a terminal).")
@json_option
@pass_ctx
@friendly_errors
def link_share(ctx: Context, customer_key, qr_file, copy, as_json) -> None:
    """Give CUSTOMER a link if they have none, and print it ready to send.

    Prints the link, a text message and an email (subject and body) in the
    customer's language, saying what they owe (or that nothing is), with sms:
    and mailto: links that open them in your phone or mail app. On a terminal
    it also draws the link as a QR code. Exit status: 0 done, 1 unknown
    customer or a QR file that is not .svg or .png, or inside build/.

    \b
    Example:
      paylink link share JANE --qr jane.png --copy
    """
    from ..actions import share_link

    terminal_qr = not as_json and sys.stdout.isatty()
    result = share_link(ctx.ws, customer_key, qr_file=qr_file, terminal_qr=terminal_qr)
    balance, shared = result.balance, result.share
    warn_if_loopback(ctx)
    c = balance.customer
    if result.revoked_day is not None:
        click.echo(
            f"Note: {c.name}'s old link was turned off on {result.revoked_day}"
            " (link revoke) and stays off; this is a new link.",
            err=True,
        )
    indent = lambda text: "\n".join(("  " + line).rstrip() for line in text.splitlines())  # noqa: E731
    lines = [
        f"Link for {c.name} (customer {c.id}{', ref ' + c.ref if c.ref else ''}):",
        shared.url,
        "",
        "Text message:",
        indent(shared.sms),
        "",
        "Email:",
        f"  Subject: {shared.email_subject}",
        "",
        indent(shared.email_body),
        "",
        "Open them in your messages or mail app:",
        f"  {shared.sms_uri}",
        f"  {shared.mailto_uri}",
    ]
    if result.qr_file is not None:
        lines += ["", f"QR code written to {result.qr_file}"]
    emit(as_json, shared.as_json(), lines)
    if result.qr_text is not None:
        click.echo("")
        click.echo(result.qr_text, nl=False)
    if copy:
        _copy_to_clipboard(shared.url)


def _copy_to_clipboard(text: str) -> None:
    """Send text to the terminal's clipboard with OSC 52; without a terminal, say it could not, and go on.

    A terminal never answers OSC 52, so whether the copy took cannot be known:
    the message says the link was sent, not that it was copied.
    """
    import base64

    if not sys.stdout.isatty():
        click.echo("Could not copy: not a terminal (stdout is redirected) — copy the link from the output", err=True)
        return
    sequence = f"\x1b]52;c;{base64.b64encode(text.encode()).decode('ascii')}\x07"
    try:
        with open("/dev/tty", "w", encoding="ascii") as tty:
            tty.write(sequence)
    except OSError:
        sys.stdout.write(sequence)
        sys.stdout.flush()
    click.echo(
        "Sent the link to your terminal's clipboard (OSC 52) — if pasting gives nothing,"
        " your terminal does not allow it: copy the link from above",
        err=True,
    )


def _asking(question: str, yes: bool):
    """The confirmation a rotate or revoke asks, with the customer's name, before it changes anything."""
    return lambda customer: _confirm(question.format(name=customer.name), yes)


offline_option = click.option(
    "--offline",
    is_flag=True,
    help="With a publish store out of reach, make the change here anyway (exit 3): the old link keeps"
    " opening on the CDN until `paylink publish` succeeds.",
)


@link.command("rotate")
@click.argument("customer_key", metavar="CUSTOMER")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@offline_option
@json_option
@pass_ctx
@friendly_errors
def link_rotate(ctx: Context, customer_key, yes, offline, as_json) -> None:
    """Give CUSTOMER a new link; the old one stops working before this returns.

    Asks to confirm unless --yes. With `publish` set, the old page is deleted
    from the store first; if the store cannot be reached nothing changes
    (exit 1) unless --offline. Exit status: 0 rotated, 1 unknown customer, no
    link, not confirmed, or the store out of reach; 3 rotated with --offline
    but the store still holds the old page.

    \b
    Example:
      paylink link rotate JANE --yes
    """
    from ..actions import rotate_link

    confirm = _asking("Give {name} a new link? Their current link will stop working.", yes)
    c, new = rotate_link(ctx.ws, customer_key, confirm=confirm, offline=offline)
    url = ctx.ws.url(new)
    emit(as_json, {"customer_id": c.id, "url": url}, url)


@link.command("revoke")
@click.argument("customer_key", metavar="CUSTOMER")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@offline_option
@json_option
@pass_ctx
@friendly_errors
def link_revoke(ctx: Context, customer_key, yes, offline, as_json) -> None:
    """Turn off CUSTOMER's link; it stops working before this returns.

    Asks to confirm unless --yes. With `publish` set, the page is deleted from
    the store first; if the store cannot be reached nothing changes (exit 1)
    unless --offline. Exit status: 0 revoked, 1 unknown customer, no link, not
    confirmed, or the store out of reach; 3 revoked with --offline but the
    store still holds the old page.

    \b
    Example:
      paylink link revoke JANE --yes
    """
    from ..actions import revoke_link

    confirm = _asking("Turn off {name}'s link? It will stop working and they will have none.", yes)
    c, _ = revoke_link(ctx.ws, customer_key, confirm=confirm, offline=offline)
    emit(as_json, {"customer_id": c.id, "url": None}, f"Revoked the link of {c.name} (customer {c.id}).")
