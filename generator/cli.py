"""The ``paylink`` command: parses arguments, calls one domain function, shows the result.

Exit status, for every command: 0 on success; 1 when paylink refuses the input
or cannot do the work (the message on stderr starts with ``Error:`` and says
how to fix it, and nothing was written); 2 when the command line itself is
wrong (an unknown option, a missing argument).
"""

import json
import os
import sqlite3
import sys
from functools import wraps
from pathlib import Path

import click

from .errors import PaylinkError, shorten_quotes

# --- shared plumbing -----------------------------------------------------------


class Context:
    """What every command may need: the site's workspace, opened only when first asked for."""

    def __init__(self, site_dir: str | None):
        self.site_dir = site_dir
        self._ws = None

    @property
    def ws(self):
        """The site's workspace (settings validated); the actions take it."""
        if self._ws is None:
            from .actions import Workspace

            self._ws = Workspace.find(self.site_dir)
        return self._ws

    @property
    def site(self):
        return self.ws.site

    def money(self, minor: int) -> str:
        from .money import format_money

        s = self.site.settings
        return format_money(minor, s.currency, s.locale)

    def major(self, minor: int) -> str:
        from .money import major_string

        return major_string(minor, self.site.settings.currency)

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()


pass_ctx = click.make_pass_decorator(Context)


def json_option(func):
    """Add ``--json``: print exactly one JSON document on stdout instead of text."""
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of text.")(func)


def emit(as_json: bool, document, text: str | list[str]) -> None:
    """Print the JSON document or the human text."""
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        click.echo(text if isinstance(text, str) else "\n".join(text))


def friendly_errors(func):
    """Turn domain and storage errors into one-line ``Error:`` messages, once, at the boundary."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except PaylinkError as exc:
            raise click.ClickException(_sentence(str(exc))) from exc
        except sqlite3.Error as exc:
            raise click.ClickException(
                f"The ledger could not be read or written ({exc}) — check the disk and that no other program holds it locked"
            ) from exc
        except OSError as exc:
            raise click.ClickException(
                f"{exc.strerror or exc}: {exc.filename or ''} — check the folder's permissions and free space"
            ) from exc

    return wrapper


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _sentence(message: str) -> str:
    """Start an error message with a capital letter, unless it starts with a file name (``entries.csv line 3: ...``)."""
    first_word = message.split(" ", 1)[0]
    if "." in first_word.rstrip(".:"):
        return message
    return message[:1].upper() + message[1:]


def _table(headers: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> list[str]:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=False))
        ).rstrip()

    return [line(headers)] + [line(r) for r in rows]


# --- the group -------------------------------------------------------------------


class PaylinkGroup(click.Group):
    """The command group, with one way of reporting every failure: a single ``Error:`` line."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            hint = f" — see `{exc.ctx.command_path} --help`" if exc.ctx else ""
            click.echo(f"Error: {shorten_quotes(exc.format_message().rstrip('.'))}{hint}", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            click.echo(f"Error: {shorten_quotes(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Error: Aborted — nothing was changed.", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            sys.exit(130)
        except Exception as exc:  # never a traceback for a business owner
            if os.environ.get("PAYLINK_DEBUG"):
                raise
            click.echo(
                f"Error: unexpected failure ({type(exc).__name__}: {exc}) — set PAYLINK_DEBUG=1 for details", err=True
            )
            sys.exit(1)
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=PaylinkGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--site",
    "site_dir",
    metavar="DIR",
    help="The site folder (default: $PAYLINK_SITE, else the current folder).",
)
@click.version_option(package_name="paylink", prog_name="paylink")
@click.pass_context
def cli(click_ctx: click.Context, site_dir: str | None) -> None:
    """paylink: text each customer one link to a page that shows what they owe right now.

    Start with `paylink init`, add customers, post charges and credits, give
    each customer a link, and host build/ behind the edge (`paylink serve`).
    """
    ctx = Context(site_dir)
    click_ctx.obj = ctx
    click_ctx.call_on_close(ctx.close)


# --- init ------------------------------------------------------------------------


@cli.command()
@click.argument("directory", metavar="[DIR]", required=False)
@click.option("--name", help="The business's name, as customers know it.")
@click.option("--currency", default="USD", show_default=True, help="ISO 4217 currency code.")
@click.option("--locale", default="en_US", show_default=True, help="Locale for money and dates, e.g. de_DE.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone, e.g. America/Chicago.")
@click.option("--base-url", default="http://127.0.0.1:8000", show_default=True, help="Where customers' links point.")
@click.option("--phone", help="The business's phone number, shown on every page.")
@click.option("--email", help="The business's email address, shown on every page.")
@json_option
@pass_ctx
@friendly_errors
def init(ctx: Context, directory, name, currency, locale, timezone, base_url, phone, email, as_json) -> None:
    """Create a new site in DIR (default: the current folder).

    Refuses to touch a folder that already holds a site. Exit status: 0 done,
    1 a setting is invalid or the site exists.
    """
    from .actions import create_site
    from .settings import Settings

    root = Path(directory or ctx.site_dir or ".")
    settings = Settings(
        name=name or "My Business",
        currency=currency,
        locale=locale,
        timezone=timezone,
        base_url=base_url,
        phone=phone,
        email=email,
    )
    site = create_site(root, settings)
    s = site.settings
    emit(
        as_json,
        {
            "site": str(site.root),
            "name": s.name,
            "currency": s.currency,
            "locale": s.locale,
            "timezone": s.timezone,
            "base_url": s.base_url,
            "phone": s.phone,
            "email": s.email,
        },
        [f"Created a paylink site for {s.name} in {site.root}"]
        + ([] if name else ["(Set your business name with --name, or edit name in paylink.toml.)"])
        + ['Next: paylink customer add "Jane Doe" --phone 555-0100'],
    )


# --- customers -------------------------------------------------------------------


@cli.group()
def customer() -> None:
    """Add, list and show customers."""


@customer.command("add")
@click.argument("name")
@click.option("--email", help="The customer's email address.")
@click.option("--phone", help="The customer's phone number.")
@click.option("--ref", help="Your own unique reference for the customer (not all digits).")
@json_option
@pass_ctx
@friendly_errors
def customer_add(ctx: Context, name, email, phone, ref, as_json) -> None:
    """Add a customer called NAME.

    Exit status: 0 added, 1 invalid input or a duplicate ref.
    """
    from .actions import add_customer

    c = add_customer(ctx.ws, name, email=email, phone=phone, ref=ref)
    emit(
        as_json,
        {"id": c.id, "name": c.name, "email": c.email, "phone": c.phone, "ref": c.ref},
        f"Added customer {c.id}: {c.name}" + (f" (ref {c.ref})" if c.ref else ""),
    )


def _customer_row(ctx: Context, cb) -> dict:
    return {
        "id": cb.customer.id,
        "name": cb.customer.name,
        "ref": cb.customer.ref,
        "balance": ctx.major(cb.balance_minor),
        "balance_minor": cb.balance_minor,
        "state": cb.state,
        "url": ctx.site.link_url(cb.link_nonce) if cb.link_nonce else None,
    }


@customer.command("list")
@json_option
@pass_ctx
@friendly_errors
def customer_list(ctx: Context, as_json) -> None:
    """List every customer with their balance, state and link.

    Exit status: 0 listed, 1 no site here.
    """
    from .actions import customer_balances

    balances = customer_balances(ctx.ws)
    rows = [_customer_row(ctx, cb) for cb in balances]
    if as_json:
        emit(True, rows, "")
        return
    if not rows:
        click.echo("No customers yet. Add one with: paylink customer add NAME")
        return
    table = [
        [str(r["id"]), r["name"], r["ref"] or "", ctx.money(r["balance_minor"]), r["state"], r["url"] or "(no link)"]
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
    """
    from .actions import customer_balances, find_customer, recent_entries

    c = find_customer(ctx.ws, customer_key)
    row = _customer_row(ctx, customer_balances(ctx.ws, c)[0])
    entries = recent_entries(ctx.ws, c)
    row.update(
        email=c.email,
        phone=c.phone,
        entries=[
            {
                "id": e.id,
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
        f"{c.name} (customer {c.id}{', ref ' + c.ref if c.ref else ''})",
        f"  Email:   {c.email or '-'}",
        f"  Phone:   {c.phone or '-'}",
        f"  Balance: {ctx.money(row['balance_minor'])} ({row['state']})",
        f"  Link:    {row['url'] or '(none — paylink link generate ' + str(c.id) + ')'}",
        "",
    ]
    if entries:
        lines += _table(
            ["ENTRY", "POSTED", "AMOUNT", "DESCRIPTION"],
            [[str(e.id), e.posted_at[:10], ctx.money(e.amount_minor), e.description] for e in entries],
            right={0, 2},
        )
    else:
        lines.append("No entries yet.")
    emit(as_json, row, lines)


# --- posting ---------------------------------------------------------------------


def _posted_document(ctx: Context, posted) -> dict:
    from .model import state_of

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
    from .actions import post_entry
    from .money import parse_amount

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
    """
    _post(ctx, customer_key, amount, description, date, key, -1, as_json)


@cli.command()
@click.argument("entry_id", type=click.IntRange(min=1), metavar="ENTRY_ID")
@click.option("--reason", help="Why the entry is voided; shown on the customer's page.")
@json_option
@pass_ctx
@friendly_errors
def void(ctx: Context, entry_id, reason, as_json) -> None:
    """Void entry ENTRY_ID by posting its reversing entry.

    Entries are never edited or deleted. An entry can be voided once; a void
    cannot be voided. Exit status: 0 voided, 1 no such entry or not voidable.
    """
    from .actions import void_entry

    posted = void_entry(ctx.ws, entry_id, reason=reason)
    doc = _posted_document(ctx, posted)
    emit(
        as_json,
        doc,
        f"Voided entry {entry_id} with entry {posted.entry.id}. Balance: {ctx.money(posted.balance_minor)} ({doc['state']}).",
    )


# --- links -----------------------------------------------------------------------


@cli.group()
def link() -> None:
    """Give customers their link, show it, rotate it or turn it off."""


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
    """
    from .actions import give_all_links, give_link

    if all_customers == bool(customer_key):
        raise click.UsageError("give either CUSTOMER or --all")
    if all_customers:
        docs = [{"customer_id": link.customer_id, "url": ctx.ws.url(link)} for link in give_all_links(ctx.ws)]
        emit(as_json, docs, [f"{d['customer_id']:>6}  {d['url']}" for d in docs] or ["No customers yet."])
        return
    c, given = give_link(ctx.ws, customer_key)
    url = ctx.ws.url(given)
    emit(as_json, {"customer_id": c.id, "url": url}, url)


@link.command("show")
@click.argument("customer_key", metavar="CUSTOMER")
@json_option
@pass_ctx
@friendly_errors
def link_show(ctx: Context, customer_key, as_json) -> None:
    """Print CUSTOMER's current link.

    Exit status: 0 shown, 1 unknown customer or no link.
    """
    from .actions import current_link, find_customer

    c = find_customer(ctx.ws, customer_key)
    url = ctx.ws.url(current_link(ctx.ws, c))
    emit(as_json, {"customer_id": c.id, "url": url}, url)


def _confirm(question: str, yes: bool) -> None:
    """Ask before a destructive act, unless --yes; a "no" (or no answer) changes nothing."""
    if yes:
        return
    try:
        agreed = click.confirm(question, err=True)
    except click.Abort:
        click.echo("", err=True)
        agreed = False
    if not agreed:
        raise click.ClickException("Not confirmed, so nothing was changed — answer y, or pass --yes")


def _change_link(ctx: Context, customer_key, yes: bool, question: str, change):
    """Confirm, then rotate or revoke a customer's link; its old page is gone when this returns."""
    from .actions import current_link, find_customer

    c = find_customer(ctx.ws, customer_key)
    current_link(ctx.ws, c)
    _confirm(question.format(name=c.name), yes)
    return c, change(ctx.ws, c)


@link.command("rotate")
@click.argument("customer_key", metavar="CUSTOMER")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_ctx
@friendly_errors
def link_rotate(ctx: Context, customer_key, yes, as_json) -> None:
    """Give CUSTOMER a new link; the old one stops working before this returns.

    Asks to confirm unless --yes. Exit status: 0 rotated, 1 unknown customer,
    no link, or not confirmed.
    """
    from .actions import rotate_link

    c, new = _change_link(
        ctx, customer_key, yes, "Give {name} a new link? Their current link will stop working.", rotate_link
    )
    url = ctx.ws.url(new)
    emit(as_json, {"customer_id": c.id, "url": url}, url)


@link.command("revoke")
@click.argument("customer_key", metavar="CUSTOMER")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_ctx
@friendly_errors
def link_revoke(ctx: Context, customer_key, yes, as_json) -> None:
    """Turn off CUSTOMER's link; it stops working before this returns.

    Asks to confirm unless --yes. Exit status: 0 revoked, 1 unknown customer,
    no link, or not confirmed.
    """
    from .actions import revoke_link

    c, _ = _change_link(
        ctx, customer_key, yes, "Turn off {name}'s link? It will stop working and they will have none.", revoke_link
    )
    emit(as_json, {"customer_id": c.id, "url": None}, f"Revoked the link of {c.name} (customer {c.id}).")


# --- imports ---------------------------------------------------------------------


@cli.group("import")
def import_() -> None:
    """Import customers or entries from CSV files (all or nothing)."""


@import_.command("customers")
@click.argument("file", type=click.Path(path_type=Path))
@json_option
@pass_ctx
@friendly_errors
def import_customers_cmd(ctx: Context, file, as_json) -> None:
    """Import customers from FILE, a CSV with the header name,email,phone,ref.

    All or nothing: the first bad line stops the import and nothing is added.
    Exit status: 0 imported, 1 a bad line (named in the message).
    """
    from .actions import import_customers

    count = import_customers(ctx.ws, file)
    emit(as_json, {"imported": count}, f"Imported {_count(count, 'customer')}.")


@import_.command("entries")
@click.argument("file", type=click.Path(path_type=Path))
@json_option
@pass_ctx
@friendly_errors
def import_entries_cmd(ctx: Context, file, as_json) -> None:
    """Import charges and credits from FILE, a CSV with the header customer,kind,amount,description,date.

    customer is an id or ref; kind is charge or credit; date is YYYY-MM-DD
    (empty means today). All or nothing. The affected pages are written before
    this returns. Exit status: 0 imported, 1 a bad line (named in the message).
    """
    from .actions import import_entries

    count = import_entries(ctx.ws, file)
    emit(as_json, {"imported": count}, f"Imported {count} {'entry' if count == 1 else 'entries'}.")


# --- pages -----------------------------------------------------------------------


@cli.command()
@click.option("--full", is_flag=True, help="Re-render every page, not only what changed.")
@json_option
@pass_ctx
@friendly_errors
def build(ctx: Context, full, as_json) -> None:
    """Make build/ match the ledger.

    Writes pages whose ledger or link changed (also by other programs), removes
    pages of links no longer live and leftovers of a crash, and re-renders every
    page when templates or settings changed. Exit status: 0 done, 1 failed.
    """
    from .actions import build as build_site
    from .actions import count_pages

    if full and not as_json and sys.stderr.isatty():
        with click.progressbar(length=count_pages(ctx.ws), label="Writing pages", file=sys.stderr) as bar:
            result = build_site(ctx.ws, full=True, progress=bar.update)
    else:
        result = build_site(ctx.ws, full=full)
    emit(
        as_json,
        {"written": result.written, "removed": result.removed},
        f"Wrote {_count(result.written, 'page')}, removed {result.removed}.",
    )


@cli.command()
@pass_ctx
@friendly_errors
def watch(ctx: Context) -> None:
    """Keep build/ current until interrupted (Ctrl-C).

    Rebuilds a customer's page within 2 seconds of any program changing their
    entries, and every page when templates or paylink.toml change. A failed
    build is reported and watching goes on. Exit status: 0 when interrupted.
    """
    from .watcher import watch_site

    site = ctx.site
    click.echo(f"Watching {site.root} (Ctrl-C to stop)", err=True)

    def report(event: str, detail: str) -> None:
        prefix = "Error: " if event == "error" else ""
        click.echo(f"{prefix}{detail}", err=True)

    try:
        watch_site(site, report)
    except KeyboardInterrupt:
        click.echo("Stopped watching.", err=True)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@pass_ctx
@friendly_errors
def serve(ctx: Context, host, port) -> None:
    """Serve build/ through the edge handler on this machine.

    Builds first, then answers customers' links until interrupted. Exit status:
    0 when interrupted, 1 if the site or port is unusable.
    """
    from .actions import build as build_site

    site = ctx.site
    build_site(ctx.ws)
    click.echo(f"Serving {site.build_dir} on http://{host}:{port}/ (Ctrl-C to stop)", err=True)
    _serve(site, host, port)


def _serve(site, host: str, port: int) -> None:
    """Run the edge over the site's build/ until interrupted; a server that cannot start is an Error: line."""
    from .edge.serve import CannotServe, run

    try:
        run(site.build_dir, site.signer_keys(), host=host, port=port)
    except CannotServe as exc:
        raise click.ClickException(_sentence(str(exc))) from exc


@cli.command()
@click.argument("directory", metavar="[DIR]", default="demo-site", required=False)
@click.option("--no-serve", is_flag=True, help="Stop after building and printing the links.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to serve on.")
@pass_ctx
@friendly_errors
def demo(ctx: Context, directory, no_serve, port) -> None:
    """Make a demo site in DIR (default ./demo-site), print its links and serve it.

    The demo business has customers who owe nothing, have a credit, and owe
    money (one with a long history). Exit status: 0 done, 1 DIR already holds a site.
    """
    from .demo import make_demo

    site, links = make_demo(Path(directory), base_url=f"http://127.0.0.1:{port}")
    click.echo(f"Demo site for {site.settings.name} in {site.root}\n")
    width = max(len(name) for name, _, _ in links)
    for name, state, url in links:
        click.echo(f"  {name:<{width}}  {state:<11}  {url}")
    if no_serve:
        return
    click.echo(f"\nServing on http://127.0.0.1:{port}/ — open a link above (Ctrl-C to stop)", err=True)
    _serve(site, "127.0.0.1", port)


# --- entry point -----------------------------------------------------------------


def main() -> None:
    """Run the ``paylink`` console script."""
    cli.main(prog_name="paylink")


if __name__ == "__main__":
    main()
