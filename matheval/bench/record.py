"""Putting a finished run on record: its tables go into the day's file, benchmarks/history/<date>.md.

`matheval bench` writes outside the tree (results/bench/); what is kept in the repository is chosen:

    python -m matheval.bench.record results/bench/RESULTS.md gpu        # the block `gpu` of that file

(benchmarks/run_gpu.sh collect does this for a device run.) The block replaces one of the same name in the
day's record, or is added at its end; the summary table is printed for the results page,
benchmarks/RESULTS.md, whose per-GPU sections are written by hand.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ..errors import UserError
from .report import replace_block

HISTORY = Path("benchmarks/history")


def read_block(source: Path, name: str) -> str:
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    text = source.read_text() if source.exists() else ""
    if start not in text or end not in text:
        raise UserError(f"{source} has no block {name!r}: did the run write its tables? (name its --block)")
    return text.split(start, 1)[1].split(end, 1)[0].strip("\n")


def record(source: Path, name: str, history: Path = HISTORY) -> tuple[Path, str]:
    """Copy block `name` of `source` into the record of the run's date; return the record and the summary."""
    block = read_block(source, name)
    day = re.search(r"\d{4}-\d{2}-\d{2}", block.splitlines()[0])
    if day is None:
        raise UserError(f"block {name!r} of {source} does not start with the run's date: not a `matheval bench` block")
    target = history / f"{day.group(0)}.md"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"# Benchmark record: {day.group(0)}\n\nThe tables of each run of the day as `matheval "
                          "bench` wrote them; the latest figures are on the results page, "
                          f"[../RESULTS.md](../RESULTS.md). Raw JSON: `benchmarks/results/{day.group(0)}-*`.\n")
    replace_block(target, name, block)
    first_table = block.split("\n#### ", 2)
    summary = block.splitlines()[0] + ("\n\n#### " + first_table[1].strip() if len(first_table) > 1 else "")
    return target, summary


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print("usage: python -m matheval.bench.record RESULTS_MD [BLOCK]   (BLOCK: gpu unless named)", file=sys.stderr)
        return 2
    try:
        target, summary = record(Path(args[0]), args[1] if len(args) == 2 else "gpu")
    except UserError as exc:
        print(f"matheval.bench.record: error: {exc}", file=sys.stderr)
        return 2
    print(f"{target}: block written from {args[0]}\n\nFor benchmarks/RESULTS.md (the machine's section: date, commit, "
          f"command, the rows that changed):\n\n{summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
