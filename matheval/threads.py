"""How many threads torch and OpenMP use: the cores actually free to this process, not the machine's.

torch starts one thread per core of the machine. Where other jobs keep those cores busy, its threads
wait on each other at every operation: on the shared 2-core development VM the same evaluation took
207 s with torch's default threads and 31.9 s with one thread (docs/backends.md, "Threads"). So a run
counts the cores it may use (its CPU affinity), takes away what other jobs keep busy (the one-minute
load average, scaled to those cores), leaves a core to the grading and sandbox workers beside it when
there are cores to spare, and says the result in its log. `--threads N` (or OMP_NUM_THREADS) decides
instead.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

THREAD_ENV = "OMP_NUM_THREADS"
SPARE_FOR_WORKERS_FROM = 4  # free cores from which one is left to the grading / sandbox workers
_set_here: list[str] = []  # the OMP_NUM_THREADS value apply_threads set (not the user's choice)


@dataclass(frozen=True)
class ThreadPlan:
    threads: int
    cores: int  # cores this process may run on (its CPU affinity)
    busy: float  # of those, how many other jobs keep busy (load average scaled to them)
    source: str  # "--threads", "OMP_NUM_THREADS" or "free cores"

    def describe(self) -> str:
        """The log line: what was chosen and why."""
        if self.source != "free cores":
            return f"threads: {self.threads} (from {self.source}; {self.cores} cores usable)"
        return (f"threads: {self.threads} ({self.cores} cores usable, about {self.busy:.1f} busy with other jobs; "
                "--threads N overrides)")

    @property
    def crowded(self) -> bool:
        """Other jobs left this run fewer cores than it may use: worth saying on the terminal."""
        return self.source == "free cores" and self.threads < self.cores


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def busy_cores(cores: int) -> float:
    """Cores of ours that other jobs keep busy: the machine's one-minute load average, scaled from all of
    its CPUs to the ones this process may use."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this platform: assume an idle machine
        return 0.0
    return load * cores / max(cores, os.cpu_count() or cores)


def plan_threads(requested: int | None = None) -> ThreadPlan:
    """The thread count for this process: `requested` (--threads), else OMP_NUM_THREADS, else free cores."""
    cores = usable_cores()
    if requested is not None:
        return ThreadPlan(requested, cores, 0.0, "--threads")
    given = os.environ.get(THREAD_ENV, "").strip()
    if given.isdigit() and int(given) > 0 and given not in _set_here:
        return ThreadPlan(int(given), cores, 0.0, THREAD_ENV)
    busy = busy_cores(cores)
    free = max(1, math.floor(cores - busy + 0.5))
    if free >= SPARE_FOR_WORKERS_FROM:
        free -= 1
    return ThreadPlan(free, cores, busy, "free cores")


def apply_threads(plan: ThreadPlan) -> None:
    """torch's intra-op threads now; OpenMP's for the worker processes started later."""
    import torch

    torch.set_num_threads(plan.threads)
    try:
        torch.set_num_interop_threads(max(1, min(plan.threads, 4)))
    except RuntimeError:  # only settable before the first parallel work of the process
        pass
    if THREAD_ENV not in os.environ or os.environ[THREAD_ENV] in _set_here:
        os.environ[THREAD_ENV] = str(plan.threads)
        _set_here.append(str(plan.threads))
