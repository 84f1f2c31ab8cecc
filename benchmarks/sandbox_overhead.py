"""What the sandbox costs per program: start-up of a pool, latency of one program, throughput of many.

Uses only the public API (`SandboxPool`, `SandboxLimits`), so the same script measures any version of the
sandbox. Three workloads, each run through one warm pool (`workers` = --workers):

- `empty`:    `pass`, one at a time: the fixed cost of forking, isolating and reaping one program.
- `sympy`:    a small sympy/numpy computation (what a code-executing agent typically runs), one at a time.
- `parallel`: --count `print(i)` programs submitted at once: programs per second with every worker busy.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sandbox_overhead.py --count 200 --workers 2 \
        --out benchmarks/results/<date>-cpu-sandbox-overhead.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matheval.sandbox import SandboxLimits, SandboxPool  # noqa: E402

SYMPY_PROGRAM = """
import sympy as sp, numpy as np
x = sp.symbols('x')
roots = sp.solve(x**2 - 5*x + 6, x)
print(sorted(roots), int(np.sum(np.arange(10))))
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def one_at_a_time(pool: SandboxPool, code: str, count: int) -> dict:
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        result = await pool.run(code)
        seconds.append(time.perf_counter() - started)
        if not result.ok:
            raise RuntimeError(f"benchmark program failed: {result.error}\n{result.stderr}")
    return {"programs": count, "median_ms": round(1000 * statistics.median(seconds), 2),
            "p90_ms": round(1000 * percentile(seconds, 0.9), 2), "mean_ms": round(1000 * statistics.mean(seconds), 2)}


async def all_at_once(pool: SandboxPool, count: int) -> dict:
    started = time.perf_counter()
    results = await asyncio.gather(*(pool.run(f"print({i})") for i in range(count)))
    elapsed = time.perf_counter() - started
    failed = [r.error for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} benchmark programs failed: {failed[:3]}")
    return {"programs": count, "seconds": round(elapsed, 3), "programs_per_second": round(count / elapsed, 1)}


async def measure(count: int, workers: int) -> dict:
    started = time.perf_counter()
    with SandboxPool(workers=workers, limits=SandboxLimits()) as pool:
        first = await pool.run("pass")  # waits for the zygote's imports
        ready = time.perf_counter() - started
        if not first.ok:
            raise RuntimeError(f"sandbox does not work here: {first.error}")
        await one_at_a_time(pool, "pass", 5)  # warm-up
        return {
            "pool_ready_seconds": round(ready, 3),
            "empty": await one_at_a_time(pool, "pass", count),
            "sympy": await one_at_a_time(pool, SYMPY_PROGRAM, max(10, count // 10)),
            "parallel": await all_at_once(pool, count),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--label", default="", help="free text stored with the figures (e.g. the commit)")
    parser.add_argument("--out", help="write the figures as JSON here too")
    args = parser.parse_args()
    figures = asyncio.run(measure(args.count, args.workers))
    try:
        from matheval.sandbox import sandbox_capabilities
        layers = [name for name, on in sandbox_capabilities().items() if on]
    except ImportError:
        layers = []
    record = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.node()} {platform.machine()}, "
              f"{os.cpu_count()} CPUs, Linux {platform.release()}, Python {platform.python_version()}",
              "user": "root" if os.geteuid() == 0 else "non-root", "workers": args.workers, "label": args.label,
              "layers": layers, **figures}
    print(json.dumps(record, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
