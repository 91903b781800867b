"""The ``paylink`` command's plumbing: the group, the shared options, and one way of reporting every failure.

Exit status, for every command: 0 on success; 1 when paylink refuses the input
or cannot do the work (the message on stderr starts with ``Error:`` and says
how to fix it, and nothing was written); 2 when the command line itself is
wrong (an unknown option, a missing argument); 3 when the ledger and build/
changed but the ``publish`` store could not be updated (a ``Warning:`` line
follows the command's normal output; ``paylink publish`` finishes the work).
"""

import json
import os
import sqlite3
import sys
from functools import wraps
from typing import TYPE_CHECKING

import click

from ..errors import PaylinkError, shorten_quotes

if TYPE_CHECKING:  # imported when first used: start-up time
    from ..actions import Workspace

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
            from ..actions import Workspace

            self._ws = Workspace.find(self.site_dir)
        return self._ws

    @property
    def site(self):
        return self.ws.site

    def money(self, minor: int) -> str:
        from ..money import format_money

        s = self.site.settings
        return format_money(minor, s.currency, s.locale)

    def major(self, minor: int) -> str:
        from ..money import major_string

        return major_string(minor, self.site.settings.currency)

    def close(self, success: bool = False) -> None:
        """Close the workspace; it saves its caches only if the command ``success``-fully finished."""
        if self._ws is not None:
            ws, self._ws = self._ws, None
            ws.close(success)


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


NAME_COLUMN = 30  # characters of a name a text table shows: one long name must not widen every row


def _clip(text: str, width: int = NAME_COLUMN) -> str:
    """``text`` cut to ``width`` characters, ending in "…" when cut (for a text table's column)."""
    return text if len(text) <= width else text[: width - 1] + "…"


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

    def invoke(self, ctx: click.Context):
        """Run the command; then close its workspace, which saves its caches only if the command
        succeeded (returned, or exited 0): ``Error:`` means nothing was written."""
        succeeded = False
        try:
            result = super().invoke(ctx)
            succeeded = result in (None, 0)
            return result
        except SystemExit as exc:
            succeeded = exc.code in (None, 0)
            raise
        finally:
            if isinstance(ctx.obj, Context):
                ctx.obj.close(succeeded)

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
            click.echo(f"Error: {shorten_quotes(exc.format_message().rstrip('.'))}{hint}", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            click.echo(f"Error: {exc.format_message()}", err=True)  # our messages quote with errors.quoted
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


def warn_if_loopback(ctx: Context) -> None:
    """Say on stderr, in one Warning: line, that links point at this computer only (base_url is loopback),
    or that they travel unencrypted (a plain http:// base_url elsewhere)."""
    settings = ctx.site.settings
    if settings.is_loopback:
        click.echo(
            f"Warning: base_url is {settings.base_url[:80]}, which only this computer can open — set base_url in"
            " paylink.toml to your public address before sending links",
            err=True,
        )
    else:
        warn_if_unencrypted(settings)


def warn_if_unencrypted(settings) -> None:
    """Say on stderr, in one Warning: line, when links to another machine would use plain http://."""
    if settings.base_url.lower().startswith("http://") and not settings.is_loopback:
        click.echo(
            f"Warning: base_url is {settings.base_url[:80]}, plain http: links (and the balances they open)"
            " travel unencrypted — use an https:// address for base_url in paylink.toml",
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
