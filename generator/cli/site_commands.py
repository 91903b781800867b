"""`paylink init`, `build`, `publish`, `watch`, `serve` and `demo`: the site and its pages."""

import sys
from contextlib import ExitStack
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
    warn_if_unencrypted,
)

# --- init ------------------------------------------------------------------------


@cli.command()
@click.argument("directory", metavar="[DIR]", required=False)
@click.option("--name", help="The business's name, as customers know it (required).")
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
    """Create a new site in DIR (default: the current folder) for the business --name.

    --name is required. Refuses to touch a folder that already holds a site, or to create one
    inside another site's folder or its build/. Exit status: 0 done, 1 a
    setting is invalid, the site exists, or DIR is inside a site; 2 no --name.

    \b
    Example:
      paylink init my-site --name "Bob's Plumbing" --phone 555-0100
    """
    from ..actions import start_site

    if name is None:
        raise click.UsageError(
            "--name is required: your business's name, as customers will see it"
            ' (paylink init my-site --name "Bob\'s Plumbing")'
        )
    root = Path(directory or ctx.site_dir or ".")
    site = start_site(
        root,
        name=name,
        currency=currency,
        locale=locale,
        language=language,
        timezone=timezone,
        base_url=base_url,
        phone=phone,
        email=email,
        address=address,
    )
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
        [
            f"Created a paylink site for {s.name} in {site.root}",
            'Next: paylink customer add "Jane Doe" --phone 555-0100',
        ],
    )
    warn_if_unencrypted(s)


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
    from ..actions import build as build_site

    if full and not as_json and sys.stderr.isatty():
        with ExitStack() as shown:
            bars: list = []  # the progress bar, opened when the build says how many pages it writes

            def progress(written: int, total: int) -> None:
                if not bars:
                    bars.append(
                        shown.enter_context(click.progressbar(length=total, label="Writing pages", file=sys.stderr))
                    )
                bars[0].update(written - bars[0].pos)

            result = build_site(ctx.ws, full=True, progress=progress)
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
    from ..actions import publish as publish_site

    if ctx.site.settings.publish and ctx.site.settings.is_loopback:
        click.echo(
            f"Warning: base_url {ctx.site.settings.base_url} points at this machine — customers' links"
            " will not reach the published pages; set base_url in paylink.toml",
            err=True,
        )
    elif ctx.site.settings.publish:
        warn_if_unencrypted(ctx.site.settings)
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
    from ..actions import watch

    def report(event: str, detail: str) -> None:
        if event == "watching":
            click.echo(f"Watching {detail} (Ctrl-C to stop)", err=True)
        else:
            click.echo(f"{'Error: ' if event == 'error' else ''}{detail}", err=True)

    try:
        watch(ctx.ws, report)
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
    from ..actions import serve as serve_site

    def ready(build_dir: Path) -> None:
        click.echo(f"Serving {build_dir} on http://{host}:{port}/ (Ctrl-C to stop)", err=True)

    serve_site(ctx.ws, host=host, port=port, ready=ready)


@cli.command()
@click.argument("directory", metavar="[DIR]", default="demo-site", required=False)
@click.option("--no-serve", is_flag=True, help="Stop after building and printing the links.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on (the links use it).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to serve on.")
@pass_ctx
@friendly_errors
def demo(ctx: Context, directory, no_serve, host, port) -> None:
    """Make a demo site in DIR (default ./demo-site), print its links and serve it.

    The demo business has customers who owe nothing, have a credit, and owe
    money (one with a long history). Run again, it reuses the demo site it
    made; it never touches a site it did not make. Exit status: 0 done, 1 DIR
    holds a site the demo did not make, or is inside another site.

    \b
    Example:
      paylink demo --no-serve
      paylink demo --port 8740
    """
    from ..actions import demo as run_demo

    def ready(site, links: list[tuple[str, str, str]]) -> None:
        click.echo(f"Demo site for {site.settings.name} in {site.root}\n")
        width = max(len(name) for name, _, _ in links)
        for name, state, url in links:
            click.echo(f"  {name:<{width}}  {state:<11}  {url}")
        if not no_serve:
            click.echo(f"\nServing on {site.settings.base_url}/ — open a link above (Ctrl-C to stop)", err=True)

    run_demo(Path(directory), host=host, port=port, serve=not no_serve, ready=ready)
