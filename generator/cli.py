"""The ``paylink`` command: parses arguments, calls one domain function, shows the result.

Exit status, for every command: 0 on success; 1 when paylink refuses the input
or cannot do the work (the message on stderr starts with ``Error:`` and says
how to fix it, and nothing was written); 2 when the command line itself is
wrong (an unknown option, a missing argument); 3 when the ledger and build/
changed but the ``publish`` store could not be updated (a ``Warning:`` line
follows the command's normal output; ``paylink publish`` finishes the work).
"""

import io
import json
import os
import sqlite3
import sys
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .errors import PaylinkError

if TYPE_CHECKING:  # imported when first used: start-up time
    from .actions import Workspace

EXIT_WARNING = 3  # the ledger and build/ changed, but the publish store could not be updated yet

# --- shared plumbing -----------------------------------------------------------


class Context:
    """What every command may need: the site's workspace, opened only when first asked for."""

    def __init__(self, site_dir: str | None):
        self.site_dir = site_dir
        self._ws: Workspace | None = None

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


def _table(headers: list[str], rows: list[list[str]], right: set[int] | frozenset[int] = frozenset()) -> list[str]:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=False))
        ).rstrip()

    return [line(headers)] + [line(r) for r in rows]


# --- the group -------------------------------------------------------------------


def hoist_site_option(command: click.Command, args: list[str]) -> list[str]:
    """Move ``--site DIR`` (or ``--site=DIR``) from anywhere on the command line to the front.

    So ``paylink customer list --site DIR`` works like ``paylink --site DIR
    customer list``. The command tree is walked as click will parse it, so a
    value of another option (``--reason --site``) or anything after ``--`` is
    left alone. The last ``--site`` given wins.
    """
    site: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg == "--site" and i + 1 < len(args):
            site = [arg, args[i + 1]]
            i += 2
            continue
        if arg.startswith("--site="):
            site = [arg]
            i += 1
            continue
        rest.append(arg)
        if isinstance(command, click.Group) and arg in command.commands:
            command = command.commands[arg]
        elif arg.startswith("-") and "=" not in arg:
            takes_value = any(
                isinstance(p, click.Option) and arg in p.opts and not p.is_flag and not p.count for p in command.params
            )
            if takes_value and i + 1 < len(args):
                rest.append(args[i + 1])
                i += 1
        i += 1
    return site + rest


class PaylinkGroup(click.Group):
    """The command group, with one way of reporting every failure: a single ``Error:`` line."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        args = hoist_site_option(self, list(sys.argv[1:] if args is None else args))
        if not args or args[0].startswith("--site") and len(args) == (1 if "=" in args[0] else 2):
            # `paylink` (or `paylink --site DIR`) alone asks for help: it is not an error.
            with self.make_context(prog_name or "paylink", ["--help"], resilient_parsing=True) as help_ctx:
                click.echo(help_ctx.get_help())
            sys.exit(0)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            # `paylink` (or `paylink link`) alone asks for help: it is not an error.
            click.echo(exc.ctx.get_help())
            sys.exit(0)
        except click.UsageError as exc:
            hint = f" — see `{exc.ctx.command_path} --help`" if exc.ctx else ""
            click.echo(f"Error: {exc.format_message().rstrip('.')}{hint}", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            click.echo(f"Error: {exc.format_message()}", err=True)
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
    help="The site folder (default: $PAYLINK_SITE, else the current folder or the nearest one above it). "
    "Also accepted after the command.",
)
@click.version_option(package_name="paylink", prog_name="paylink")
@click.pass_context
def cli(click_ctx: click.Context, site_dir: str | None) -> None:
    """paylink: text each customer one link to a page that shows what they owe right now.

    Start with `paylink init`, add customers, post charges and credits, give
    each customer a link, and host build/ behind the edge (`paylink serve`).
    Run it anywhere inside your site's folder: paylink finds the site as git
    finds its repository.

    \b
    Example:
      paylink charge JANE 120.50 "Drain cleaning"
    """
    ctx = Context(site_dir)
    click_ctx.obj = ctx
    click_ctx.call_on_close(ctx.close)


@cli.result_callback()
@click.pass_context
def report_warnings(click_ctx: click.Context, *_result, **_params) -> None:
    """After a command that did its work: one ``Warning:`` line per thing left undone, then exit 3.

    The command's own output (``--json`` too) is already printed. Today the
    only such thing is a publish store out of reach (CONTRACT §2, §7).
    """
    ctx = click_ctx.find_object(Context)
    warnings: list[str] = ctx._ws.warnings if ctx is not None and ctx._ws is not None else []
    if warnings:
        for warning in warnings:
            click.echo(f"Warning: {warning}", err=True)
        click_ctx.exit(EXIT_WARNING)


# --- init ------------------------------------------------------------------------


@cli.command()
@click.argument("directory", metavar="[DIR]", required=False)
@click.option("--name", help="The business's name, as customers know it.")
@click.option("--currency", default="USD", show_default=True, help="ISO 4217 currency code.")
@click.option("--locale", default="en_US", show_default=True, help="Locale for money and dates, e.g. de_DE.")
@click.option("--language", help="Language of pages and share messages (en or es; default: the locale's).")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone, e.g. America/Chicago.")
@click.option("--base-url", default="http://127.0.0.1:8000", show_default=True, help="Where customers' links point.")
@click.option("--phone", help="The business's phone number, shown on every page.")
@click.option("--email", help="The business's email address, shown on every page.")
@click.option("--address", help="The business's postal address, shown on every page and statement.")
@json_option
@pass_ctx
@friendly_errors
def init(
    ctx: Context, directory, name, currency, locale, language, timezone, base_url, phone, email, address, as_json
) -> None:
    """Create a new site in DIR (default: the current folder).

    Refuses to touch a folder that already holds a site, or to create one
    inside another site's folder or its build/. Exit status: 0 done, 1 a
    setting is invalid, the site exists, or DIR is inside a site.

    \b
    Example:
      paylink init my-site --name "Bob's Plumbing" --phone 555-0100
    """
    from .actions import create_site
    from .settings import Settings

    root = Path(directory or ctx.site_dir or ".")
    settings = Settings(
        name=name or "My Business",
        currency=currency,
        locale=locale,
        language=language,
        timezone=timezone,
        base_url=base_url,
        phone=phone,
        email=email,
        address=address,
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
    """Add, change, list and show customers.

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
    from .actions import add_customer

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
@json_option
@pass_ctx
@friendly_errors
def customer_edit(ctx: Context, customer_key, name, email, phone, ref, language, as_json) -> None:
    """Change CUSTOMER's name, email, phone, ref or language.

    Only what you give changes; an empty value ("") removes an email, phone,
    ref or language. Their page is rewritten before this returns. Exit status:
    0 changed, 1 unknown customer, invalid input or a ref another customer has.

    \b
    Example:
      paylink customer edit JANE --phone 555-0199 --email ""
    """
    from .actions import edit_customer

    changes = {"name": name, "email": email, "phone": phone, "ref": ref, "language": language}
    if all(value is None for value in changes.values()):
        raise click.UsageError("nothing to change: give --name, --email, --phone, --ref or --language")
    c = edit_customer(ctx.ws, customer_key, **changes)
    details = ", ".join(
        f"{k} {v if v is not None else '(none)'}" for k, v in _customer_document(c).items() if k != "id"
    )
    emit(as_json, _customer_document(c), f"Changed customer {c.id}: {details}")


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


CUSTOMER_CSV_COLUMNS = ["id", "name", "ref", "email", "phone", "language", "balance", "state", "url"]


@customer.command("list")
@click.option("--owing", is_flag=True, help="Only customers with an outstanding balance.")
@click.option("--csv", "as_csv", is_flag=True, help="Print a CSV for mail merge: " + ",".join(CUSTOMER_CSV_COLUMNS))
@json_option
@pass_ctx
@friendly_errors
def customer_list(ctx: Context, owing, as_csv, as_json) -> None:
    """List every customer with their balance, state and link.

    Exit status: 0 listed, 1 no site here.

    \b
    Example:
      paylink customer list --owing --csv > reminders.csv
    """
    import csv

    from .actions import customer_balances

    if as_csv and as_json:
        raise click.UsageError("give --csv or --json, not both")
    balances = [cb for cb in customer_balances(ctx.ws) if cb.balance_minor > 0 or not owing]
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

    \b
    Example:
      paylink customer show JANE
    """
    from zoneinfo import ZoneInfo

    from .actions import customer_balances, find_customer, recent_entries
    from .statement import local_day

    c = find_customer(ctx.ws, customer_key)
    row = _customer_row(ctx, customer_balances(ctx.ws, c)[0])
    entries = recent_entries(ctx.ws, c)
    zone = ZoneInfo(ctx.site.settings.timezone)
    days = {e.id: day.isoformat() if (day := local_day(e.posted_at, zone)) else None for e in entries}
    row.update(
        email=c.email,
        phone=c.phone,
        language=c.language,
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
        f"{c.name} (customer {c.id}{', ref ' + c.ref if c.ref else ''})",
        f"  Email:   {c.email or '-'}",
        f"  Phone:   {c.phone or '-'}",
        f"  Balance: {ctx.money(row['balance_minor'])} ({row['state']})",
        f"  Link:    {row['url'] or '(none — paylink link share ' + str(c.ref or c.id) + ')'}",
        f"  Language: {c.language or ctx.site.settings.page_language + ' (the site' + chr(39) + 's)'}",
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
    import datetime as dt
    from zoneinfo import ZoneInfo

    from .actions import customer_balances, customer_statement, find_customer
    from .statement import parse_day

    if as_csv and as_json:
        raise click.UsageError("give --csv or --json, not both")
    settings = ctx.site.settings
    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    c = find_customer(ctx.ws, customer_key)
    stmt = customer_statement(ctx.ws, c, start=first, end=last)
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
    if html_file is not None:
        from .render import Renderer
        from .site import check_output_path, write_private_file
        from .statement import render_html

        target = check_output_path(ctx.site, html_file, "statement file")
        nonce = customer_balances(ctx.ws, c)[0].link_nonce
        today = dt.datetime.now(ZoneInfo(settings.timezone)).date()
        env = Renderer(settings, ctx.site.templates_dir).env
        html = render_html(settings, env, stmt, url=ctx.site.link_url(nonce) if nonce else None, today=today)
        write_private_file(target, html.encode("utf-8"))
        if not (as_json or as_csv):
            click.echo(
                f"Wrote the statement for {c.name} ({len(rows)} {'entry' if len(rows) == 1 else 'entries'}) to {target}"
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
    """Write a consistent copy of the ledger to FILE, even while other commands write to it.

    FILE is replaced only by a complete, checked copy (mode 0600). Never into
    build/, never over the live ledger. To restore: stop paylink, copy the
    backup back to paylink.db, run `paylink build`. Exit status: 0 written,
    1 FILE is not allowed or the copy failed (FILE is then unchanged).

    \b
    Example:
      paylink backup ~/backups/paylink-$(date +%F).db
    """
    from .actions import back_up

    made = back_up(ctx.ws, file)
    emit(
        as_json,
        {"path": str(made.path), "entries": made.entries, "customers": made.customers},
        f"Backed up {_count(made.customers, 'customer')} and {made.entries}"
        f" {'entry' if made.entries == 1 else 'entries'} to {made.path}",
    )


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
@click.option("--reason", help="Why the entry is voided; shown on the customer's page.")
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
    from .actions import give_all_links, give_link

    if all_customers == bool(customer_key):
        raise click.UsageError("give either CUSTOMER or --all")
    if all_customers:
        from .actions import customer_balances

        docs = [{"customer_id": link.customer_id, "url": ctx.ws.url(link)} for link in give_all_links(ctx.ws)]
        warn_if_loopback(ctx)
        if as_json or not docs:
            emit(as_json, docs, "No customers yet.")
            return
        who = {cb.customer.id: cb.customer for cb in customer_balances(ctx.ws)}
        table = [
            [str(d["customer_id"]), who[d["customer_id"]].name, who[d["customer_id"]].ref or "", d["url"]]
            for d in docs
            if d["customer_id"] in who
        ]
        emit(False, None, _table(["ID", "NAME", "REF", "LINK"], table, right={0}))
        return
    c, given = give_link(ctx.ws, customer_key)
    url = ctx.ws.url(given)
    warn_if_loopback(ctx)
    emit(as_json, {"customer_id": c.id, "url": url}, url)


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
    from .actions import current_link, find_customer

    c = find_customer(ctx.ws, customer_key)
    url = ctx.ws.url(current_link(ctx.ws, c))
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
    from .actions import customer_balances

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
        table = [[str(d["customer_id"]), d["name"], d["ref"] or "", d["url"]] for d in docs]
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
    from . import qr
    from .actions import share_link
    from .share import compose
    from .site import check_output_path, write_private_file

    target = check_output_path(ctx.site, qr_file, "QR code file") if qr_file is not None else None
    if target is not None:
        qr.file_kind(target)  # refuse a wrong extension before the link is given
    balance, given = share_link(ctx.ws, customer_key)
    shared = compose(ctx.site.settings, balance, ctx.ws.url(given))
    if target is not None:
        write_private_file(target, qr.file_bytes(shared.url, target))
    warn_if_loopback(ctx)
    c = balance.customer
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
    if target is not None:
        lines += ["", f"QR code written to {target}"]
    emit(as_json, shared.as_json(), lines)
    if not as_json and sys.stdout.isatty():
        click.echo("")
        click.echo(qr.terminal_text(shared.url), nl=False)
    if copy:
        _copy_to_clipboard(shared.url)


def _copy_to_clipboard(text: str) -> None:
    """Put text on the terminal's clipboard with OSC 52; without a terminal, say it could not, and go on."""
    import base64

    if not sys.stdout.isatty():
        click.echo("Could not copy the link: not a terminal (copying needs one) — copy it from the output", err=True)
        return
    sequence = f"\x1b]52;c;{base64.b64encode(text.encode()).decode('ascii')}\x07"
    try:
        with open("/dev/tty", "w", encoding="ascii") as tty:
            tty.write(sequence)
    except OSError:
        sys.stdout.write(sequence)
        sys.stdout.flush()
    click.echo("Copied the link to the clipboard.", err=True)


def warn_if_loopback(ctx: Context) -> None:
    """Say on stderr, in one Warning: line, that links point at this computer only (base_url is loopback)."""
    settings = ctx.site.settings
    if settings.is_loopback:
        click.echo(
            f"Warning: base_url is {settings.base_url[:80]}, which only this computer can open — set base_url in"
            " paylink.toml to your public address before sending links",
            err=True,
        )


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

    \b
    Example:
      paylink link rotate JANE --yes
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

    \b
    Example:
      paylink link revoke JANE --yes
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
    """Import customers from FILE, a CSV with the columns name,email,phone,ref and optionally language.

    The file may be as a spreadsheet saves it: comma- or semicolon-separated,
    header names in any case and order, extra columns (ignored, and named on
    stderr). language is en or es. All or nothing: when rows are bad, up to 20
    of them are named and nothing is added.

    \b
    Example:
      paylink import customers customers.csv

    Exit status: 0 imported, 1 bad rows (named in the message).
    """
    from .actions import import_customers

    with _file_named_first():
        imported = import_customers(ctx.ws, file)
    _note_ignored(imported.ignored_columns, file)
    emit(as_json, {"imported": imported.count}, f"Imported {_count(imported.count, 'customer')}.")


@import_.command("entries")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--again", is_flag=True, help="Import a file that was imported before (rows with a key already posted are skipped)."
)
@json_option
@pass_ctx
@friendly_errors
def import_entries_cmd(ctx: Context, file, again, as_json) -> None:
    """Import charges and credits from FILE, a CSV with the columns customer,kind,amount,description,date and optionally key.

    customer is an id or ref; kind is charge or credit; amount may be written
    as the site's spreadsheet shows it ($1,200.00, 1.200,50 €); date is
    YYYY-MM-DD or the locale's short date (11/20/2026), empty for today; key is
    an idempotency key, as --key: a row whose key was already posted for that
    customer is skipped. A file imported before is refused unless --again. All
    or nothing; the affected pages are written before this returns.

    \b
    Example:
      paylink import entries march.csv
      paylink import entries march.csv --again

    Exit status: 0 imported, 1 bad rows (named in the message) or a file already imported.
    """
    from .actions import import_entries

    with _file_named_first():
        imported = import_entries(ctx.ws, file, again=again)
    _note_ignored(imported.ignored_columns, file)
    text = f"Imported {imported.count} {'entry' if imported.count == 1 else 'entries'}"
    if imported.skipped:
        text += f"; skipped {imported.skipped} already posted (same key)"
    emit(as_json, {"imported": imported.count, "skipped": imported.skipped}, text + ".")


@contextmanager
def _file_named_first():
    """An import's refusal starts with the file's name, as written ("march 2026.csv ..."): never capitalised."""
    from .errors import ImportFailed

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

    \b
    Example:
      paylink build --full
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
@click.option("--full", is_flag=True, help="List the bucket and repair any drift, not only what changed.")
@click.option("--dry-run", is_flag=True, help="Say what would be uploaded and deleted; change nothing.")
@json_option
@pass_ctx
@friendly_errors
def publish(ctx: Context, full, dry_run, as_json) -> None:
    """Mirror build/ into the S3-compatible store named by `publish` in paylink.toml.

    \b
    Example:
      AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... paylink publish
      paylink publish --full --dry-run

    Uploads new and changed files (each with the Content-Type and
    Cache-Control the edge sends), then deletes removed ones. Sends only what
    changed since the last publish without listing the bucket; the first
    publish and --full compare with a listing and repair any drift. Only
    build/ is ever sent, never paylink.key, paylink.db or paylink.toml.
    Credentials come from the environment or an AWS profile, as for any S3
    client; `publish_endpoint` names R2, MinIO or another S3-compatible store.
    Exit status: 0 done, 1 no `publish` setting or the store could not be
    reached (run again: nothing is lost).
    """
    from .actions import publish as publish_site

    if ctx.site.settings.publish and ctx.site.settings.is_loopback:
        click.echo(
            f"Warning: base_url {ctx.site.settings.base_url} points at this machine — customers' links"
            " will not reach the published pages; set base_url in paylink.toml",
            err=True,
        )
    result = publish_site(ctx.ws, full=full, dry_run=dry_run, progress=_upload_progress(as_json))
    would = "Would upload" if dry_run else "Uploaded"
    emit(
        as_json,
        result.as_dict(),
        f"{would} {_count(result.uploaded, 'file')}, {'would delete' if dry_run else 'deleted'}"
        f" {result.deleted}, {result.unchanged} unchanged"
        + (" (compared with a listing of the bucket)." if result.listed else "."),
    )


def _upload_progress(as_json: bool):
    """On a terminal (and not --json), a progress line on stderr for long uploads; else None."""
    if as_json or not sys.stderr.isatty():
        return None

    def show(sent: int, total: int) -> None:
        if total >= 50:  # a handful of files goes out too fast to need one
            click.echo(f"\rUploading {sent:,} of {total:,} files", err=True, nl=sent == total)

    return show


@cli.command()
@pass_ctx
@friendly_errors
def watch(ctx: Context) -> None:
    """Keep build/ current until interrupted (Ctrl-C).

    Rebuilds a customer's page within 2 seconds of any program changing their
    entries, and every page when templates or paylink.toml change. A failed
    build is reported and watching goes on. Exit status: 0 when interrupted.

    \b
    Example:
      paylink watch
    """
    from .watcher import watch_site

    ctx.ws.conn  # noqa: B018 — the same checks as every command (the ledger's currency) before watching
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

    \b
    Example:
      paylink serve --port 8000
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
    money (one with a long history). Run again, it reuses the demo site it
    made; it never touches a site it did not make. Exit status: 0 done, 1 DIR
    holds a site the demo did not make, or is inside another site.

    \b
    Example:
      paylink demo --no-serve
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
