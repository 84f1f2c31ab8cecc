"""Summarise the data-parallel runs of benchmarks/run_v8_gpu.sh (issue 23 on one GPU): each run's accuracy,
wall time, tokens/s and replicas, whether every problem was journaled exactly once, and how many responses
are the same as the run without --data_parallel.

    python benchmarks/dp_summary.py <work folder> <out.json>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RUNS = ("dp-none", "dp-1", "dp-2", "dp-kill")


def summarise(folder: Path) -> tuple[dict, dict] | None:
    metrics = sorted(folder.glob("*/metrics.json"))
    journals = sorted(folder.glob("*/answers/*.jsonl"))
    if not metrics or not journals:
        return None
    row = next(iter(json.loads(metrics[0].read_text())["configurations"].values()))
    records = [json.loads(line) for line in journals[0].read_text().splitlines()[1:] if line.strip()]
    keys = [(r["id"], r.get("run", 0)) for r in records]
    summary = {k: row.get(k) for k in ("accuracy", "count", "wall_seconds", "tokens_per_second", "completion_tokens",
                                       "data_parallel", "replicas")}
    summary.update(journaled=len(records), distinct=len(set(keys)))
    return summary, {f"{r['id']}/{r.get('run', 0)}": r.get("response") for r in records}


def main() -> None:
    work, out = Path(sys.argv[1]), Path(sys.argv[2])
    found = {name: each for name in RUNS if (each := summarise(work / name)) is not None}
    base = found["dp-none"][1] if "dp-none" in found else {}
    runs = {}
    for name, (summary, answers) in found.items():
        summary["same_responses_as_no_flag"] = sum(1 for k, v in answers.items() if base.get(k) == v) if base else None
        runs[name] = summary
    out.write_text(json.dumps(runs, indent=1) + "\n")
    print(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
