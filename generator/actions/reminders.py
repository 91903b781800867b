"""Sending the reminders due today (`paylink remind`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .workspace import Workspace

if TYPE_CHECKING:
    from .. import reminders


def remind(ws: Workspace, *, dry_run: bool = False) -> reminders.RemindResult:
    """Send the reminders due today, each recorded before it goes out; ``dry_run`` only says who would get what.

    A send that failed is in the result's ``failed`` and in ``ws.warnings`` (the
    CLI exits 3); the next run tries it again.
    """
    from .. import reminders

    result = reminders.run(ws.conn, ws.settings, ws.site.link_url, dry_run=dry_run)
    if result.failed:
        ws.warnings.append(
            f"{len(result.failed)} reminder(s) could not be sent (see failed) — the next `paylink remind` tries"
            " them again"
        )
    return result
