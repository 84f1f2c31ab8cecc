"""Result folders in, configurations out: records, recomputed summaries, and what the study compares.

A configuration is one answers file of one run folder: (model, dataset, mode or agent). Its numbers are
recomputed from its records with `metrics.summarize`, the function that wrote metrics.csv, so the report
and the CSV agree; where they do not (a stale or hand-edited file) the configuration carries a warning
instead of the report silently picking one. An unfinished run (killed, or still going) is read from its
journal, so a report can be made while a suite is running.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..errors import UserError
from ..manifest import flat_settings, read_manifest
from ..metrics import Summary, summarize, wilson_interval
from ..results import safe_name

ANSWERS_SUFFIX = "_answers.json"
JOURNAL_SUFFIX = "_answers.jsonl"
# Metadata worth a breakdown, in the order shown (MATH-500: level, subject; synthetic: level, template).
BREAKDOWN_KEYS = ("level", "subject", "type", "template", "year", "difficulty", "category")
MAX_GROUPS = 30  # more distinct values than this is an identifier, not a category


@dataclass
class Config:
    """One evaluated configuration and everything the report shows about it."""

    folder: Path
    stem: str  # <model>_<dataset>_<label> as the result files spell it
    model: str
    dataset: str
    label: str  # the prompt mode of a plain evaluation, or the agent's name
    agent: str
    backend: str
    records: list[dict]
    summary: Summary
    metrics: dict | None  # the latest metrics.csv row of this configuration (None while unfinished)
    expected: int | None  # problems x runs the run set out to do, from the journal header
    finished: bool
    warnings: list[str] = field(default_factory=list)
    name: str = ""  # unique within its dataset; set by `load_configs`
    key: str = ""  # identifier safe for HTML ids
    manifest: dict | None = None  # the run manifest's entry (matheval.manifest); None for older folders
    written: float = 0.0  # when its answers (or journal) were last written: the newest run is the baseline

    @property
    def settings(self) -> dict:
        """Every setting as the run resolved it ({flag: value}), from the manifest."""
        return flat_settings(self.manifest)

    @property
    def tokens_per_second(self) -> float | None:
        value = (self.metrics or {}).get("tokens_per_second")
        return float(value) if value not in (None, "") else None


@dataclass
class Flips:
    """How `other` differs from `reference` on the problems both attempted."""

    reference: Config
    other: Config
    shared: int
    both_right: int
    both_wrong: int
    gained: list[str]  # problem ids: reference wrong, other right
    lost: list[str]  # reference right, other wrong
    p_value: float  # exact McNemar test: could the gains and losses be chance?


def load_configs(paths: Iterable[str | Path]) -> list[Config]:
    """Every configuration under `paths` (results roots or run folders), in a stable order."""
    seen: dict[tuple[Path, str], None] = {}
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise UserError(f"{path} does not exist: pass a results folder (such as results/) or a run folder in it")
        if not path.is_dir():
            raise UserError(f"{path} is not a folder: pass a results folder (such as results/) or a run folder in it")
        found = find_configs(path)
        if not found:
            raise UserError(f"no results in {path}: pass a folder written by `matheval eval` or `matheval agent` "
                            "(run folders hold answers/*_answers.json)")
        for item in found:
            seen.setdefault(item, None)
    csv_rows: dict[Path, list[dict]] = {}
    manifests: dict[Path, dict] = {}
    configs = [load_config(folder, stem, csv_rows, manifests) for folder, stem in seen]
    configs.sort(key=lambda c: (c.dataset, c.model, c.agent != "standard", c.label, str(c.folder)))
    name_configs(configs)
    return configs


def find_configs(root: Path) -> list[tuple[Path, str]]:
    """(run folder, stem) of every answers file or journal below `root`."""
    found = set()
    for path in root.rglob("*_answers.json*"):
        if path.name.startswith(".") or path.parent.name != "answers" or not path.is_file():
            continue
        for suffix in (JOURNAL_SUFFIX, ANSWERS_SUFFIX):
            if path.name.endswith(suffix):
                found.add((path.parent.parent.resolve(), path.name[: -len(suffix)]))
                break
    return sorted(found)


def load_config(folder: Path, stem: str, csv_cache: dict[Path, list[dict]],
                manifests: dict[Path, dict] | None = None) -> Config:
    answers = folder / "answers" / f"{stem}{ANSWERS_SUFFIX}"
    journal = folder / "answers" / f"{stem}{JOURNAL_SUFFIX}"
    identity = read_journal_header(journal) if journal.exists() else {}
    finished = answers.exists()
    records = read_answers(answers) if finished else read_journal(journal)
    if folder not in csv_cache:
        csv_cache[folder] = read_metrics_csv(folder / "metrics.csv")
    manifests = {} if manifests is None else manifests
    if folder not in manifests:
        manifests[folder] = read_manifest(folder)
    rows = [r for r in csv_cache[folder] if row_stem(r) == stem or row_stem(r, with_backend=True) == stem]
    if identity.get("backend"):  # two backends in one folder: their rows share model, dataset and mode
        rows = [r for r in rows if r.get("backend") in (None, "", identity["backend"])]
    metrics = rows[-1] if rows else None
    # names as the run spelled them: the journal header, else the metrics row, else the file name
    parts = stem.split("_")
    guess = {"model": parts[0], "dataset": "_".join(parts[1:-1]) or "?", "mode": parts[-1]}
    fallback = metrics or guess
    model = identity.get("model") or fallback["model"]
    dataset = identity.get("dataset") or fallback["dataset"]
    agent = identity.get("agent") or "standard"
    label = agent if agent != "standard" else (identity.get("params") or {}).get("mode") or fallback["mode"]
    summary = summarize(records)
    expected = identity["count"] * identity.get("runs", 1) if "count" in identity else None
    config = Config(folder=folder, stem=stem, model=model, dataset=dataset, label=label, agent=agent,
                    backend=identity.get("backend") or (metrics or {}).get("backend")
                    or backend_from_log(folder / "log" / f"{stem}.log"),
                    records=records, summary=summary, metrics=metrics if finished else None,
                    expected=expected, finished=finished, manifest=manifests[folder].get(stem),
                    written=(answers if finished else journal).stat().st_mtime)
    if not finished:
        config.warnings.append(f"unfinished: {len(records)} of {expected or '?'} problems in the journal "
                               "(rerun its command to finish it)")
    elif metrics is None:
        config.warnings.append("metrics.csv has no row for this configuration: throughput unknown")
    elif _int(metrics.get("count")) != summary.count or _int(metrics.get("correct")) != summary.correct:
        config.warnings.append(f"metrics.csv says {metrics.get('correct')}/{metrics.get('count')} correct but the "
                               f"answers file holds {summary.correct}/{summary.count}: the page shows the answers")
    return config


def row_stem(row: dict, with_backend: bool = False) -> str:
    """The stem of the files a metrics.csv row describes (a second backend's files carry `+<backend>`)."""
    stem = "_".join(safe_name(row.get(k) or "") for k in ("model", "dataset", "mode"))
    return f"{stem}+{safe_name(row.get('backend') or '')}" if with_backend else stem


def read_answers(path: Path) -> list[dict]:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read {path} ({exc}): restore it, or delete it to fall back on the journal") from exc
    return check_records(records, path)


def read_journal_header(path: Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        first = handle.readline()
    try:
        header = json.loads(first)
    except json.JSONDecodeError:
        return {}
    return header.get("identity", {}) if isinstance(header, dict) and header.get("header") else {}


def read_journal(path: Path) -> list[dict]:
    """Records of an unfinished run; a torn last line (a kill mid-write) is skipped as resume skips it."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    if lines and not text.endswith("\n"):
        lines.pop()
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path} line {number} is corrupt ({exc.msg}): delete that line") from exc
        if not (isinstance(record, dict) and record.get("header")):
            records.append(record)
    latest = {(r.get("id"), r.get("run", 0)): r for r in check_records(records, path)}  # a rerun's line wins
    return list(latest.values())


def check_records(records, path: Path) -> list[dict]:
    if not isinstance(records, list):
        raise UserError(f"{path} is not a matheval answers file (expected a list of records)")
    for index, record in enumerate(records):
        if not isinstance(record, dict) or "id" not in record or "correct" not in record:
            raise UserError(f"{path} is not a matheval answers file: record {index} lacks 'id' or 'correct'")
    return records


def read_metrics_csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def backend_from_log(path: Path) -> str:
    """An unfinished run has no metrics row; its log's start line names the backend."""
    if not path.exists():
        return ""
    found = re.findall(r" backend=(\S+)", path.read_text(encoding="utf-8", errors="replace"))
    return found[-1] if found else ""


def name_configs(configs: list[Config]) -> None:
    """Short names: the label, with the model when several models are shown, with as much of the folder's
    path as tells them apart when two configurations would still share a name on one dataset."""
    several_models = len({c.model for c in configs}) > 1
    for index, config in enumerate(configs):
        config.key = f"c{index + 1}"
        config.name = f"{config.model} · {config.label}" if several_models else config.label
    for group in by_dataset(configs).values():  # one label on two backends: the backend tells them apart
        backends = {name: {c.backend for c in group if c.name == name} for name in {c.name for c in group}}
        for config in group:
            if len(backends[config.name]) > 1:
                config.name = f"{config.name} ({config.backend})"
    clashes: dict[tuple[str, str], list[Config]] = {}
    for config in configs:
        clashes.setdefault((config.dataset, config.name), []).append(config)
    for group in clashes.values():
        if len(group) < 2:
            continue
        for depth in range(1, max(len(c.folder.parts) for c in group) + 1):
            tails = ["/".join(c.folder.parts[-depth:]) for c in group]
            if len(set(tails)) == len(tails):
                break
        for config, tail in zip(group, tails):
            config.name = f"{config.name} [{tail}]"


def by_dataset(configs: list[Config]) -> dict[str, list[Config]]:
    groups: dict[str, list[Config]] = {}
    for config in configs:
        groups.setdefault(config.dataset, []).append(config)
    return groups


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both cost (lower) and accuracy (higher),
    cheapest first: the configurations that buy accuracy most cheaply."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def solved(records: list[dict]) -> bool:
    """A problem counts as solved by a configuration when most of its runs are correct."""
    return sum(1 for r in records if r["correct"]) * 2 > len(records)


def per_problem(config: Config) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for record in config.records:
        grouped.setdefault(str(record["id"]), []).append(record)
    return grouped


def mcnemar_p(gained: int, lost: int) -> float:
    """Two-sided exact McNemar test (binomial on the discordant pairs)."""
    total = gained + lost
    if total == 0:
        return 1.0
    tail = sum(math.comb(total, k) for k in range(min(gained, lost) + 1)) / 2 ** total
    return min(1.0, 2 * tail)


def reference_config(configs: list[Config], baseline: str | None = None) -> Config:
    """The baseline the other configurations of a dataset are compared with: the one named `baseline` (its
    name on the page, its label or its stem), else the newest finished plain standard-mode evaluation."""
    if baseline:
        named = [c for c in configs if baseline in (c.name, c.label, c.stem, c.key)]
        if named:
            return max(named, key=lambda c: (c.finished, c.written))
    def newest(candidates: list[Config]) -> Config | None:
        return max(candidates, key=lambda c: (c.finished, c.written)) if candidates else None

    return (newest([c for c in configs if c.agent == "standard" and c.label == "standard"])
            or newest([c for c in configs if c.agent == "standard"]) or newest(configs))


def check_baseline(configs: list[Config], baseline: str | None) -> None:
    """--baseline names a configuration of the page, or it is refused in one line."""
    if baseline and not any(baseline in (c.name, c.label, c.stem, c.key) for c in configs):
        names = sorted({c.name for c in configs})
        raise UserError(f"--baseline {baseline!r} is none of the configurations: use one of {', '.join(names)}")


def flips(reference: Config, other: Config) -> Flips:
    ref, oth = per_problem(reference), per_problem(other)
    shared = [pid for pid in ref if pid in oth]
    gained = [pid for pid in shared if not solved(ref[pid]) and solved(oth[pid])]
    lost = [pid for pid in shared if solved(ref[pid]) and not solved(oth[pid])]
    both_right = sum(1 for pid in shared if solved(ref[pid]) and solved(oth[pid]))
    return Flips(reference, other, len(shared), both_right, len(shared) - both_right - len(gained) - len(lost),
                 gained, lost, mcnemar_p(len(gained), len(lost)))


def breakdown_keys(configs: list[Config]) -> list[str]:
    """Metadata keys that split these configurations' problems into a few named groups."""
    values: dict[str, set] = {}
    for config in configs:
        for record in config.records:
            for key, value in (record.get("metadata") or {}).items():
                if key.lower() in BREAKDOWN_KEYS and isinstance(value, (str, int)) and not isinstance(value, bool):
                    values.setdefault(key, set()).add(value)
    keys = [k for k, v in values.items() if 2 <= len(v) <= MAX_GROUPS]
    return sorted(keys, key=lambda k: BREAKDOWN_KEYS.index(k.lower()))


@dataclass
class Cell:
    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.correct, self.total)


def breakdown(configs: list[Config], key: str) -> tuple[list, dict[str, dict]]:
    """Groups of `key` in natural order, and per configuration key: group -> Cell."""
    table: dict[str, dict] = {}
    groups = set()
    for config in configs:
        cells: dict = {}
        for record in config.records:
            value = (record.get("metadata") or {}).get(key)
            if value is None:
                continue
            groups.add(value)
            cell = cells.setdefault(value, Cell(0, 0))
            cell.total += 1
            cell.correct += int(bool(record["correct"]))
        table[config.key] = cells
    return sorted(groups, key=natural_key), table


def natural_key(value) -> tuple:
    """'Level 10' after 'Level 9', numbers before text."""
    if isinstance(value, (int, float)):
        return (0, value, "")
    match = re.search(r"-?\d+(\.\d+)?", str(value))
    return (1, float(match.group()) if match else math.inf, str(value))


def _int(value) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None
