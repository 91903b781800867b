"""Acts on the site as a whole: create it, make the demo, build, serve, publish, back up and restore."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import SiteError
from ..site import Site
from .workspace import Workspace, push_to_store

if TYPE_CHECKING:
    from .. import backup
    from ..pages import BuildResult
    from ..publish import PublishResult
    from ..settings import Settings


def create_site(root: Path, settings: Settings) -> Site:
    """Create a new site folder (settings, empty ledger, fresh key) and build its empty ``build/``."""
    from ..site import init_site

    site = init_site(root, settings)
    with Workspace(site) as ws:
        ws.pages().build()
    return site


def start_site(
    root: Path,
    *,
    name: str,
    currency: str,
    locale: str,
    language: str | None,
    timezone: str,
    base_url: str,
    phone: str | None = None,
    email: str | None = None,
    address: str | None = None,
) -> Site:
    """``paylink init``: create a new site in ``root`` with the settings as the owner typed them (each is checked)."""
    from ..settings import Settings

    settings = Settings(
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
    return create_site(root, settings)


def make_demo(root: Path, *, base_url: str) -> tuple[Site, list[tuple[str, str, str]]]:
    """Create (or reuse) the demo site in ``root`` and return it with (name, state, url) per customer with a link.

    A folder holding a site the demo did not make is refused before anything is touched.
    """
    from .. import demo
    from .customers import add_customer, customer_balances
    from .links import give_all_links
    from .posting import post_entry

    root = root.expanduser().absolute()
    site = demo.demo_to_reuse(root, base_url=base_url)
    fresh = site is None
    if site is None:
        site = create_site(root, demo.demo_settings(base_url))
        demo.mark_as_demo(root)
    with Workspace(site) as ws:
        if fresh:
            today = dt.datetime.now(dt.UTC).date()
            for customer in demo.demo_customers():
                added = add_customer(ws, customer.name, email=customer.email, phone=customer.phone, ref=customer.ref)
                for amount_minor, description, days in customer.entries:
                    day = (today - dt.timedelta(days=days)).isoformat()
                    post_entry(ws, str(added.id), amount_minor, description, day=day)
        give_all_links(ws)
        build(ws)
        rows = [(cb.customer.name, cb.state, ws.url(cb.link_nonce)) for cb in customer_balances(ws) if cb.link_nonce]
    return site, rows


Ready = Callable[[Site, list[tuple[str, str, str]]], None]


def demo(root: Path, *, host: str, port: int, serve: bool = True, ready: Ready | None = None) -> None:
    """``paylink demo``: make (or reuse) the demo site in ``root`` with links to ``host:port``; ``ready`` hears the
    site and its (name, state, url) rows; then, if ``serve``, serve it until interrupted."""
    site, rows = make_demo(root, base_url=f"http://{host}:{port}")
    if ready is not None:
        ready(site, rows)
    if serve:
        _serve_edge(site, host, port)


def serve(ws: Workspace, *, host: str, port: int, ready: Callable[[Path], None] | None = None) -> None:
    """``paylink serve``: bring ``build/`` up to date, then serve it through the edge on ``host:port`` until
    interrupted; ``ready`` hears the build folder once it is built. A port or folder that cannot be used is a
    SiteError."""
    build(ws)
    if ready is not None:
        ready(ws.site.build_dir)
    _serve_edge(ws.site, host, port)


def _serve_edge(site: Site, host: str, port: int) -> None:
    """Run the edge over the site's build/ until interrupted; a server that cannot start is a SiteError."""
    from ..edge.serve import CannotServe, run

    try:
        run(site.build_dir, site.signer_keys(), host=host, port=port)
    except CannotServe as exc:
        raise SiteError(str(exc)) from exc


def build(
    ws: Workspace, *, full: bool = False, progress: Callable[[int, int], None] | None = None, push: bool = True
) -> BuildResult:
    """Make ``build/`` match the ledger (every page with ``full``); then, unless not ``push``, send it to the store.

    ``progress``, with ``full``, hears (pages written, pages to write): first (0, total), then as pages are written.
    """
    pages = ws.pages()
    step: Callable[[int], None] | None = None
    if progress is not None and full:
        total, done = pages.count_live(), 0
        progress(0, total)

        def step(written: int) -> None:
            nonlocal done
            done += written
            progress(done, total)

    result = pages.build(full=full, progress=step)
    if push:
        push_to_store(ws)
    return result


def publish(
    ws: Workspace, *, full: bool = False, dry_run: bool = False, progress: Callable[[int, int], None] | None = None
) -> PublishResult:
    """Make the ``publish`` store match ``build/`` (against a listing of the bucket the first time, or ``full``).

    ``progress``, if given, hears (files sent, files to send) as uploads go out.
    """
    from ..publish import Publisher

    return Publisher(ws.site, ws.conn, progress=progress).publish(full=full, dry_run=dry_run)


def back_up(ws: Workspace, path: Path) -> backup.Backup:
    """Write one backup file of the site (ledger, keys, settings, templates) while other programs may write."""
    from .. import backup

    return backup.back_up(ws.site, ws.conn, path)


def restore(backup_file: Path, directory: Path) -> backup.Restored:
    """Make a new site in ``directory`` from a backup and build its pages: every link live at the backup opens.

    Nothing is left behind when anything fails (a damaged ledger, a broken template, a full disk).
    """
    from .. import backup

    site, created = backup.restore(backup_file, directory)
    try:
        with Workspace(site) as ws:
            problem = ws.conn.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise backup.NotABackup(
                    f"the ledger in {str(backup_file)[-80:]} does not check out ({problem[:80]}) — use another backup"
                )
            ws.pages().build(full=True)
            return backup.restored_counts(ws.conn, site.root)
    except sqlite3.DatabaseError as exc:  # the ledger in the backup is not a database
        backup.undo_restore(site.root, created)
        raise backup.NotABackup(
            f"the ledger in {str(backup_file)[-80:]} cannot be read ({str(exc)[:80]}) — use another backup"
        ) from exc
    except BaseException:
        backup.undo_restore(site.root, created)
        raise
