"""`matheval compare --json / --csv`: the summary table for scripts and spreadsheets.

One record per configuration: where it is (folder, stem), what it is (model, dataset, label, agent,
backend), whether it finished, the recomputed summary (accuracy and its interval, maj@N / pass@N, costs
per problem), the run's throughput from metrics.csv, and every setting from the manifest (`settings`,
flat, as flags); the CSV flattens settings into `setting.<name>` columns.
"""

from __future__ import annotations

import csv
import io
import json

from ..manifest import describe_value
from .data import Config


def record(config: Config) -> dict:
    return {"folder": str(config.folder), "stem": config.stem, "name": config.name, "model": config.model,
            "dataset": config.dataset, "label": config.label, "agent": config.agent, "backend": config.backend,
            "finished": config.finished, "expected": config.expected, **config.summary.as_dict(),
            "tokens_per_second": config.tokens_per_second, "status": (config.manifest or {}).get("status"),
            "settings": config.settings, "warnings": config.warnings}


def as_json(configs: list[Config]) -> str:
    return json.dumps([record(c) for c in configs], indent=2, ensure_ascii=False, default=str) + "\n"


def as_csv(configs: list[Config]) -> str:
    rows = []
    for config in configs:
        row = record(config)
        settings = row.pop("settings")
        row["warnings"] = "; ".join(row["warnings"])
        row.update({f"setting.{k}": describe_value(v) for k, v in settings.items()})
        rows.append(row)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return buffer.getvalue()
