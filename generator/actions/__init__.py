"""What a user does with paylink, one function per act: each changes the ledger and keeps pages current.

The promise "when the command returns, the affected pages are written (or
removed)" lives in ``workspace.keeping_pages_current`` and nowhere else: the
CLI, the demo and the benchmarks call these actions and never the page writer
after a change of their own. Nothing here prints or prompts.

One module per idea (the workspace, the site, customers, posting, links,
imports, statements, reminders, watching); every act is reached as ``actions.<name>``
(``from paylink.actions import post_entry``). A module is imported when one of
its names is first asked for, so a command loads only the acts it runs: a no-op
``paylink build`` does not pay for the customers' and links' result types.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from .workspace import Workspace, keeping_pages_current, push_to_store, store_behind

if TYPE_CHECKING:  # the names as type checkers see them; at run time, __getattr__ imports them when asked for
    from .customers import (  # noqa: F401
        CustomerDetails,
        Edited,
        Merged,
        RecentEntry,
        add_customer,
        customer_balances,
        customer_details,
        edit_customer,
        merge_customers,
        recent_entries,
        reminder_channels,
        remove_customer,
    )
    from .imports import (  # noqa: F401
        import_customers,
        import_entries,
        import_payments,
    )
    from .links import (  # noqa: F401
        Confirm,
        SharedLink,
        current_link,
        give_all_links,
        give_link,
        give_links,
        revoke_link,
        rotate_link,
        share_link,
    )
    from .posting import (  # noqa: F401
        post_as_written,
        post_entry,
        void_entry,
    )
    from .reminders import (  # noqa: F401
        remind,
    )
    from .site import (  # noqa: F401
        Ready,
        back_up,
        build,
        create_site,
        demo,
        make_demo,
        publish,
        restore,
        serve,
        start_site,
    )
    from .statements import (  # noqa: F401
        StatementMade,
        customer_statement,
        make_statement,
    )
    from .watch import (  # noqa: F401
        Report,
        watch,
    )

# Each public name of the acts' modules, by module (tests/test_actions_package.py checks it against them).
MODULES = {
    "customers": (
        "CustomerDetails",
        "Edited",
        "Merged",
        "RecentEntry",
        "add_customer",
        "customer_balances",
        "customer_details",
        "edit_customer",
        "merge_customers",
        "recent_entries",
        "reminder_channels",
        "remove_customer",
    ),
    "imports": ("import_customers", "import_entries", "import_payments"),
    "links": (
        "Confirm",
        "SharedLink",
        "current_link",
        "give_all_links",
        "give_link",
        "give_links",
        "revoke_link",
        "rotate_link",
        "share_link",
    ),
    "posting": ("post_as_written", "post_entry", "void_entry"),
    "reminders": ("remind",),
    "site": (
        "Ready",
        "back_up",
        "build",
        "create_site",
        "demo",
        "make_demo",
        "publish",
        "restore",
        "serve",
        "start_site",
    ),
    "statements": ("StatementMade", "customer_statement", "make_statement"),
    "watch": ("Report", "watch"),
}
_WHERE = {name: module for module, names in MODULES.items() for name in names}

__all__ = ["Workspace", "keeping_pages_current", "push_to_store", "store_behind", *_WHERE]


def __getattr__(name: str) -> object:
    """An act (or its result type) from its module, imported on first use (PEP 562)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # bound here once found: later look-ups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
