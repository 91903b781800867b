"""Running and timing commands: wall time, peak memory of a process tree, medians.

Peak memory is sampled, not guessed: every 20 ms the VmRSS of the command and
all of its descendants is summed, and the largest sum is kept. Each process's
own high-water mark (VmHWM) is read too, and the figure reported is the larger
of the peak sum and the largest single high-water mark, so a short spike in one
process that sampling missed still counts. The kernel's ``ru_maxrss`` is not
used: it counts what the child held between fork and exec, which is the size
of the forking bench process, not of the command.
"""

import json
import os
import shlex
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_INTERVAL_S = 0.020


@dataclass
class Run:
    """One finished command: how long it took, how much memory it held, what it printed."""

    seconds: float
    returncode: int
    stdout: str
    stderr: str
    peak_tree_rss_mb: float = 0.0  # the largest sum of VmRSS over the process tree
    peak_process_hwm_mb: float = 0.0  # the largest VmHWM of one process in it
    user_s: float = 0.0  # CPU time of the command and the children it waited for
    sys_s: float = 0.0

    @property
    def peak_rss_mb(self) -> float:
        return max(self.peak_tree_rss_mb, self.peak_process_hwm_mb)

    def json(self):
        """The command's stdout as JSON; raise with its stderr if it failed."""
        self.check()
        return json.loads(self.stdout)

    def check(self) -> "Run":
        if self.returncode != 0:
            raise RuntimeError(f"exit {self.returncode}: {self.stderr.strip()[-500:]}")
        return self


@dataclass
class Summary:
    """Median and minimum of repeated timings (seconds)."""

    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    def as_dict(self, scale: float = 1.0, digits: int = 4) -> dict:
        """Median, minimum and run count (and every sample, when there are at most five), times ``scale``."""
        summary = {
            "median": round(self.median * scale, digits),
            "min": round(self.min * scale, digits),
            "runs": len(self.samples),
        }
        if len(self.samples) <= 5:
            summary["each"] = [round(x * scale, digits) for x in self.samples]
        return summary


def run_timed(
    argv: list[str], *, cwd: Path | None = None, track_memory: bool = False, env: dict[str, str] | None = None
) -> Run:
    """Run a command to completion; return its wall time (and peak tree RSS if asked) and output.

    ``env`` replaces the environment when given."""
    with open(os.devnull, "rb") as stdin, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=stdin, stdout=out, stderr=err, cwd=cwd, env=env)
        sampler = _TreeSampler(proc.pid) if track_memory else None
        if sampler:
            sampler.start()
        # wait4, not Popen.wait: it also gives the CPU time of the command and its children.
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if sampler:
            sampler.stop()
        out.seek(0)
        err.seek(0)
        return Run(
            seconds=seconds,
            returncode=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            peak_tree_rss_mb=sampler.peak_sum_kb / 1024 if sampler else 0.0,
            peak_process_hwm_mb=max(sampler.hwm_kb.values(), default=0) / 1024 if sampler else 0.0,
            user_s=usage.ru_utime,
            sys_s=usage.ru_stime,
        )


class _TreeSampler(threading.Thread):
    """Samples a process and its descendants until stopped: the peak of their summed VmRSS,
    and each one's VmHWM (its own peak RSS since exec)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_sum_kb = 0
        self.hwm_kb: dict[int, int] = {}
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.is_set():
            total = 0
            for pid in _tree(self.pid):
                rss, hwm = _memory_kb(pid)
                total += rss
                self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), hwm)
            self.peak_sum_kb = max(self.peak_sum_kb, total)
            self._stopped.wait(SAMPLE_INTERVAL_S)

    def stop(self) -> None:
        self._stopped.set()
        self.join()


def _tree(pid: int) -> list[int]:
    """The pid and all its descendants (through /proc/<pid>/task/<tid>/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for tid in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{tid}/children") as children:
                    todo.extend(int(c) for c in children.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def _memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KB; (0, 0) for a zombie or a process already gone."""
    found = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    found[line[:5]] = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return found.get("VmRSS", 0), found.get("VmHWM", 0)


def time_interleaved(commands: dict[str, Callable[[], list[str]]], *, runs: int, warmup: int) -> dict[str, Summary]:
    """Time several commands round-robin (so drift hits all alike); ``commands`` map a name to a
    function that returns the next argv. Every run must succeed. Return a Summary per name."""
    summaries = {name: Summary() for name in commands}
    for i in range(warmup + runs):
        for name, next_argv in commands.items():
            run = run_timed(next_argv()).check()
            if i >= warmup:
                summaries[name].samples.append(run.seconds)
    return summaries


def hyperfine(commands: dict[str, list[str]], *, runs: int, warmup: int, export: Path) -> dict[str, Summary]:
    """Time commands with hyperfine (no shell in between); return a Summary per name."""
    argv = [
        "hyperfine",
        "--shell=none",
        "--style=none",
        f"--warmup={warmup}",
        f"--runs={runs}",
        f"--export-json={export}",
    ]
    for name, command in commands.items():
        argv += ["--command-name", name, shlex.join(command)]
    run_timed(argv).check()
    results = json.loads(export.read_text())["results"]
    return {r["command"]: Summary(list(r["times"])) for r in results}
