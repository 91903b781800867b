"""`paylink remind`: send the payment reminders due today (CONTRACT §9)."""

import click

from .base import Context, cli, emit, friendly_errors, json_option, pass_ctx


@cli.command()
@click.option("--dry-run", is_flag=True, help="Print who would be reminded, how, and the text; send nothing.")
@json_option
@pass_ctx
@friendly_errors
def remind(ctx: Context, dry_run, as_json) -> None:
    """Send the payment reminders due today, by email and text, to customers who agreed.

    A reminder goes to a customer who owes, has a live link and agreed to the
    channel (`customer edit CUSTOMER --reminders email,sms`), as [reminders] in
    paylink.toml says; each is recorded before it goes out, so nobody gets two
    the same day, however often this runs. Emails go through [reminders] smtp
    (password in $PAYLINK_SMTP_PASSWORD); texts through the Apprise URL in
    $PAYLINK_SMS_URL. Exit status: 0 done (or nothing due), 1 reminders off or
    a setting missing (nothing sent), 3 some reminders failed (a Warning: line
    follows; the next run tries them again).

    \b
    Example:
      paylink remind --dry-run
      paylink remind            # daily from cron: 0 10 * * * paylink --site ~/shop remind
    """
    from ..actions import remind as run_reminders

    result = run_reminders(ctx.ws, dry_run=dry_run)
    document = result.as_json()
    if dry_run:
        document["would_send"] = [
            {"customer_id": r.customer_id, "channel": r.channel, "to": r.to, "subject": r.subject, "text": r.text}
            for r in result.due
        ]
        lines = []
        for r in result.due:
            lines.append(f"Would remind customer {r.customer_id} by {r.channel} at {r.to}:")
            if r.subject:
                lines.append(f"  Subject: {r.subject}")
            lines += ["  " + line if line else "" for line in r.text.rstrip("\n").split("\n")]
            lines.append("")
        lines.append(f"{len(result.due)} reminder(s) would be sent; {len(result.skipped)} customer(s) skipped.")
        emit(as_json, document, lines)
        return
    lines = [f"Reminded customer {r.customer_id} by {r.channel} at {r.to}" for r in result.sent]
    lines += [f"Could not remind customer {r.customer_id} by {r.channel}: {error}" for r, error in result.failed]
    lines.append(
        f"{len(result.sent)} reminder(s) sent, {len(result.failed)} failed; {len(result.skipped)} customer(s) skipped"
        " (see --json for why)."
    )
    emit(as_json, document, lines)
