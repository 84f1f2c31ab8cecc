"""Grader disagreements: the records that `matheval regrade --audit` graded differently with different
graders (each record keeps every grader's verdict under "audit"). The report lists them and lets the
problem cards be filtered down to them."""

from __future__ import annotations

from dataclasses import dataclass

from .data import Config


@dataclass
class Disagreement:
    config: Config
    id: str
    run: int
    gold: str
    verdicts: dict[str, dict]  # grader -> {"correct": bool, "extracted": str | None}


def disagrees(record: dict) -> bool:
    audit = record.get("audit") or {}
    return len({bool(v.get("correct")) for v in audit.values() if isinstance(v, dict)}) > 1


def audited(configs: list[Config]) -> bool:
    return any(record.get("audit") for config in configs for record in config.records)


def disagreements(configs: list[Config]) -> tuple[list[str], list[Disagreement]]:
    """The graders seen in these configurations' audits, and every record they disagree on."""
    graders: list[str] = []
    found = []
    for config in configs:
        for record in config.records:
            for name in record.get("audit") or {}:
                if name not in graders:
                    graders.append(name)
            if disagrees(record):
                found.append(Disagreement(config, str(record["id"]), record.get("run", 0), str(record.get("gold", "")),
                                          record["audit"]))
    return graders, found
