"""Child processes that die with the process that started them, so a killed command leaves none behind.

A build's render helpers and `paylink serve`'s server workers are separate
processes. When their parent is killed outright (SIGKILL, the OOM killer) it
cannot stop them, so each asks Linux, as it starts, to be killed with its
parent (PR_SET_PDEATHSIG).
"""

import os
import signal

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent_pid: int) -> None:
    """Have this process killed (SIGKILL) when its parent dies; exit at once if it already has.

    On a system without prctl nothing is asked: the caller's own pipes end the process there.
    """
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:  # the parent died before the prctl took effect
        os._exit(0)
