"""The ``paylink`` command: parses arguments, calls one action, shows the result.

One module per family of commands (customers, posting, links, imports,
statements, the site and its pages); ``base`` holds the group and the
plumbing they share. Exit status, for every command: 0 on success; 1 when
paylink refuses the input or cannot do the work (``Error:`` on stderr, and
nothing was written); 2 when the command line itself is wrong; 3 when the
ledger and build/ changed but the ``publish`` store could not be updated
(a ``Warning:`` line follows the command's normal output).
"""

from . import customers, imports, links, posting, reminders, site_commands, statements  # noqa: F401  (they add the commands)
from .base import cli

__all__ = ["cli", "main"]


def main() -> None:
    """Run the ``paylink`` console script."""
    cli.main(prog_name="paylink")
