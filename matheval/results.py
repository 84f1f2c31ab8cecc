"""The seed's results layout, written from a durable journal.

    <results_dir>/<round>_<model>_<dataset>_<count>_<MMDD>/
        answers/<model>_<dataset>_<mode>_answers.json    final per-problem records
        answers/<model>_<dataset>_<mode>_answers.jsonl   the journal (header line, then one record per line)
        log/<model>_<dataset>_<mode>.log                 human-readable progress log
        metrics.csv                                      one row per finished run
        metrics_<mode>.txt                               human-readable summary

Each finished problem is appended to the journal and flushed to disk before it is counted, so a
killed run loses nothing finished and its rerun repeats nothing. Every other file is derived from
the journal and written to a temporary name, then renamed: never half-written.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .errors import UserError
from .metrics import Summary

_UMASK = os.umask(0)
os.umask(_UMASK)

CSV_COLUMNS = [
    "timestamp", "model", "dataset", "mode", "backend", "batch_size", "count", "correct", "accuracy",
    "ci_low", "ci_high", "tokens", "prompt_tokens", "completion_tokens", "wall_seconds", "tokens_per_second",
    "num_runs", "pass_at_n", "pass_ci_low", "pass_ci_high", "maj_at_n", "maj_ci_low", "maj_ci_high",
    "calls_per_problem", "tokens_per_problem", "seconds_per_problem", "engine_calls", "mean_batch",
    "resumed", "round", "seed", "data_parallel",
    # settings and honest costs (after the seed's columns, so older files keep their order)
    "max_new_tokens", "temperature", "top_p", "fewshot_k", "completion_tokens_per_problem",
    "prompt_tokens_per_problem", "engine_seconds_per_problem",
    # sampled evaluation and reasoning traces (docs/reasoning.md); pass_at_k / cons_at_k / budget_curve hold
    # "k=value[low,high]" items separated by spaces
    "preset", "num_samples", "avg_at_n", "avg_ci_low", "avg_ci_high", "pass_at_k", "cons_at_k",
    "truncation_rate", "finished_accuracy", "reasoning_tokens", "answer_tokens", "budget_curve",
]
# Journal identity keys -> the flag a user changes (what a refused rerun names)
IDENTITY_FLAGS = {"backend": "--inference_backend", "max_tokens": "--max_new_tokens", "examples": "--fewshot_k",
                  "runs": "runs", "extra": "agent extra", "dataset_file": "the --dataset file's sha256"}


def safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-._+" else "-" for c in text)


@dataclass(frozen=True)
class RunPaths:
    folder: Path
    model: str
    dataset: str
    mode: str

    @property
    def stem(self) -> str:
        return f"{self.model}_{self.dataset}_{self.mode}"

    @property
    def answers(self) -> Path:
        return self.folder / "answers" / f"{self.stem}_answers.json"

    @property
    def journal(self) -> Path:
        return self.folder / "answers" / f"{self.stem}_answers.jsonl"

    @property
    def log(self) -> Path:
        return self.folder / "log" / f"{self.stem}.log"

    @property
    def metrics_csv(self) -> Path:
        return self.folder / "metrics.csv"

    @property
    def metrics_txt(self) -> Path:
        return self.folder / f"metrics_{self.mode}.txt"


def journal_backend(path: Path) -> str | None:
    """The backend named in a journal's header (None when unreadable)."""
    try:
        with open(path, encoding="utf-8") as handle:
            header = json.loads(handle.readline())
        return header.get("identity", {}).get("backend")
    except (OSError, ValueError, AttributeError):
        return None


def for_backend(paths: RunPaths, backend: str | None) -> RunPaths:
    """Two backends in one folder: the first keeps the seed's file names, any other adds `+<backend>` to the
    mode part (`..._standard+native_answers.json`), so each resumes its own journal and none is refused."""
    if backend is None or not paths.journal.exists() or journal_backend(paths.journal) in (None, backend):
        return paths
    return RunPaths(paths.folder, paths.model, paths.dataset, f"{paths.mode}+{safe_name(backend)}")


def run_paths(results_dir: str | Path, round_name: str, model: str, dataset: str, count: int, mode: str,
              today: datetime | None = None, backend: str | None = None) -> RunPaths:
    """The run's folder. A rerun on a later day continues an unfinished run of the same
    round/model/dataset/count instead of starting a fresh folder."""
    model, dataset, mode = safe_name(model), safe_name(dataset), safe_name(mode)
    prefix = f"{safe_name(round_name)}_{model}_{dataset}_{count}_"
    root = Path(results_dir)
    today_folder = root / (prefix + (today or datetime.now()).strftime("%m%d"))
    if not today_folder.exists() and root.is_dir():
        earlier = sorted((p for p in root.glob(prefix + "[0-9][0-9][0-9][0-9]") if p.is_dir()),
                         key=lambda p: p.stat().st_mtime, reverse=True)
        for folder in earlier:
            paths = for_backend(RunPaths(folder, model, dataset, mode), backend)
            if paths.journal.exists() and not paths.answers.exists():
                return paths
    return for_backend(RunPaths(today_folder, model, dataset, mode), backend)


def ensure_writable(folder: Path) -> None:
    try:
        (folder / "answers").mkdir(parents=True, exist_ok=True)
        (folder / "log").mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
    except OSError as exc:
        raise UserError(f"cannot write results to {folder} ({exc.strerror or exc}): "
                        "choose a writable --results_dir") from exc


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes owner-only files; results are ordinary files
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


class Journal:
    """Append-only record of finished (problem, run) pairs; the source of truth for resume.

    The first line is a header holding the settings that change answers; resuming with other
    settings is refused instead of silently mixing two experiments in one file.
    """

    def __init__(self, path: Path, identity: dict):
        self.path = path
        self.records: dict[tuple[str, int], dict] = {}
        if path.exists():
            self._load(identity)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(json.dumps({"header": True, "identity": identity, "created": _now()}) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        self._handle = open(path, "a", encoding="utf-8")

    def _load(self, identity: dict) -> None:
        raw = self.path.read_bytes()
        good_end = raw.rfind(b"\n") + 1
        if good_end < len(raw):  # a kill in the middle of a write left a partial last line
            with open(self.path, "r+b") as handle:
                handle.truncate(good_end)
        lines = raw[:good_end].decode("utf-8").splitlines()
        if not lines:
            raise UserError(f"{self.path} is empty: delete it to start this run over")
        header = json.loads(lines[0])
        changes = identity_changes(header.get("identity", {}), identity)
        if changes:
            detail = ", ".join(changes[:4]) + (f" and {len(changes) - 4} more" if len(changes) > 4 else "")
            raise UserError(f"{self.path.parent.parent} holds a run with other settings ({detail}): rerun with "
                            "its settings to continue it, use another --round, or delete that folder to start over")
        for number, line in enumerate(lines[1:], start=2):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{self.path} line {number} is corrupt ({exc.msg}): delete that line to resume") from exc
            self.records[(record["id"], record.get("run", 0))] = record

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self.records

    def append(self, record: dict) -> None:
        """Durably record one finished problem: on disk before the caller counts it.

        Whatever text the record holds (model output, a program's output) is written: lone surrogates,
        which UTF-8 cannot encode, become U+FFFD, so no text can stop a run."""
        line = json.dumps(record, ensure_ascii=False)
        if not _encodable(line):
            record = without_surrogates(record)
            line = json.dumps(record, ensure_ascii=False)
        self._handle.write(line + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.records[(record["id"], record.get("run", 0))] = record

    def close(self) -> None:
        self._handle.close()


_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def without_surrogates(value):
    """The same JSON-like value with every surrogate code point (in keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {without_surrogates(k): without_surrogates(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_surrogates(v) for v in value]
    return value


def identity_changes(stored: dict, wanted: dict) -> list[str]:
    """What differs between two run identities, as the flags a user would change: '--max_new_tokens 64 -> 32'."""

    def flat(identity: dict) -> dict:
        values = {k: v for k, v in identity.items() if k != "params"}
        values.update(identity.get("params") or {})
        return values

    before, after = flat(stored), flat(wanted)
    changes = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        flag = IDENTITY_FLAGS.get(key, f"--{key}")
        if key == "examples":
            old, new = len(old or []), len(new or [])
        changes.append(f"{flag} {_shown(old)} -> {_shown(new)}")
    return changes


def _shown(value) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def update_folder_json(path: Path, key: str, value: dict, fmt: int = 1) -> None:
    """Set one configuration's entry in a folder-wide JSON file ({"format", "configurations": {key: ...}}),
    under a lock, so two runs writing into one folder keep both entries; written atomically."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            entries = read_folder_json(path)
            entries[key] = value
            text = json.dumps({"format": fmt, "configurations": entries}, indent=2, ensure_ascii=False, default=str)
            write_atomic(path, text + "\n")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_folder_json(path: Path) -> dict[str, dict]:
    """The entries of a folder-wide JSON file ({} when it is missing or unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    entries = data.get("configurations") if isinstance(data, dict) else None
    return entries if isinstance(entries, dict) else {}


def write_metrics_json(paths: RunPaths, row: dict) -> None:
    """metrics.json beside metrics.csv: each configuration's latest row, typed, for scripts."""
    update_folder_json(paths.folder / "metrics.json", paths.stem, dict(row, stem=paths.stem))


class RunLog:
    """The human-readable log: one line per event, flushed as it goes."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(path, "a", encoding="utf-8", errors="backslashreplace")

    def write(self, message: str) -> None:
        if self._handle.closed:  # a late line (an engine thread after the run ended) has no run to go to
            return
        self._handle.write(f"{_now()} {message}\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def write_answers(paths: RunPaths, records: list[dict]) -> None:
    write_atomic(paths.answers, json.dumps(records, indent=2, ensure_ascii=False) + "\n")


def append_metrics_row(paths: RunPaths, row: dict) -> None:
    """Add a row to metrics.csv (rewritten whole, atomically; columns are a fixed superset so
    base and agent runs share one file)."""
    rows = []
    if paths.metrics_csv.exists():
        with open(paths.metrics_csv, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    rows.append({k: _csv_value(row.get(k)) for k in CSV_COLUMNS})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(paths.metrics_csv, buffer.getvalue())


def estimates(values: dict) -> str:
    """{k: [value, low, high]} as metrics.csv holds it: "1=0.25[0.1,0.5] 2=0.4[0.2,0.6]"."""
    return " ".join(f"{k}={v:.6g}[{lo:.6g},{hi:.6g}]" for k, (v, lo, hi) in values.items())


def metrics_row(summary: Summary, *, model: str, dataset: str, mode: str, backend: str, batch_size,
                round_name: str, seed: int, wall_seconds: float, new_tokens: int, resumed: int,
                engine: dict, num_runs: int, settings: dict | None = None, preset: str | None = None) -> dict:
    row = summary.as_dict()
    curve = {p["budget"]: [p["accuracy"], p["low"], p["high"]] for p in summary.budget_curve}
    row.update(pass_at_k=estimates(summary.pass_at_k) or None, cons_at_k=estimates(summary.cons_at_k) or None,
               budget_curve=estimates(curve) or None, num_samples=summary.num_samples or None, preset=preset)
    row.update(
        timestamp=_now(), model=model, dataset=dataset, mode=mode, backend=backend, batch_size=batch_size,
        round=round_name, seed=seed, wall_seconds=wall_seconds,
        tokens_per_second=new_tokens / wall_seconds if wall_seconds > 0 else 0.0,
        resumed=resumed, engine_calls=engine.get("engine_calls"), mean_batch=engine.get("mean_batch"),
        num_runs=num_runs,
    )
    for key in ("max_new_tokens", "temperature", "top_p", "fewshot_k"):
        row.setdefault(key, (settings or {}).get(key))
    return row



def write_metrics_txt(paths: RunPaths, row: dict, summary: Summary, anchors: list[str] = ()) -> None:
    lines = [
        f"Model:       {row['model']}",
        f"Dataset:     {row['dataset']}",
        f"Mode:        {row['mode']}",
        f"Backend:     {row['backend']} (batch size {row['batch_size']})",
        f"Generation:  max_new_tokens {row.get('max_new_tokens')}, temperature {row.get('temperature')}, "
        f"top_p {row.get('top_p')}, seed {row.get('seed')} (every setting: manifest.json)",
        f"Problems:    {summary.count}",
        f"Correct:     {summary.correct}",
        f"Accuracy:    {summary.accuracy:.2%}  (95% CI {summary.ci_low:.2%} - {summary.ci_high:.2%})",
    ]
    lines += sampled_lines(summary, anchors)
    lines += [
        f"Tokens:      {summary.tokens} ({summary.prompt_tokens} prompt + {summary.completion_tokens} completion)",
        f"Per problem: {summary.completion_tokens_per_problem:.1f} generated tokens (+ "
        f"{summary.prompt_tokens_per_problem:.1f} prompt), {summary.calls_per_problem:.2f} calls, "
        + (f"{summary.engine_seconds_per_problem:.2f} engine-seconds (its share of the run's wall time), "
           if summary.engine_seconds_per_problem is not None else "")
        + f"{summary.seconds_per_problem:.2f} s latency",
        f"Wall time:   {row['wall_seconds']:.1f} s this invocation ({row['resumed']} problems resumed from the journal)",
        f"Throughput:  {row['tokens_per_second']:.1f} completion tokens/s",
    ]
    if row.get("engine_calls"):
        lines.append(f"Engine:      {row['engine_calls']} calls, mean batch {row['mean_batch']}")
    for each in row.get("replicas") or ():
        lines.append(f"Replica {each['replica']}:   {each['problems']} problems, {each['tokens_per_second']:.1f} "
                     f"completion tokens/s ({each['where']}{'' if each['alive'] else ', died'})")
    lines.append(f"Written:     {row['timestamp']}")
    write_atomic(paths.metrics_txt, "\n".join(lines) + "\n")


def _interval(values) -> str:
    value, low, high = values
    return f"{value:.2%}  (95% CI {low:.2%} - {high:.2%})"


def sampled_lines(summary: Summary, anchors: list[str] = ()) -> list[str]:
    """The lines a sampled or reasoning run adds to its summary: avg@N, pass@k, cons@k (maj@k under its
    older name), truncation, reasoning tokens, the budget curve, published anchors."""
    lines = []
    n = summary.num_samples
    if n:
        lines.append(f"{f'avg@{n}:':<13}{_interval([summary.avg_at_n, summary.avg_ci_low, summary.avg_ci_high])}"
                     "  mean share of correct samples: papers' pass@1")
        lines += [f"{f'pass@{k}:':<13}{_interval(v)}" for k, v in summary.pass_at_k.items()]
        lines += [f"{f'cons@{k}:':<13}{_interval(v)}" + (f"  (maj@{n})" if k == n else "")
                  for k, v in summary.cons_at_k.items()]
    finished = summary.responses - summary.truncated
    accuracy = "n/a" if summary.finished_accuracy is None else f"{summary.finished_accuracy:.2%}"
    lines.append(f"Truncated:   {summary.truncation_rate:.2%} of {summary.responses} responses (cut at the cap or "
                 f"reasoning never closed); accuracy over the {finished} finished: {accuracy}")
    if summary.reasoning_tokens is not None:
        per = summary.responses or 1
        lines.append(f"Reasoning:   {summary.reasoning_tokens / per:.1f} tokens of reasoning and "
                     f"{summary.answer_tokens / per:.1f} of answer per response")
    if summary.budget_curve:
        points = "; ".join(f"{p['budget']} tokens {p['accuracy']:.1%} [{p['low']:.1%}, {p['high']:.1%}]"
                           f" ({p['forced']} forced)" for p in summary.budget_curve)
        lines.append(f"Budget:      {points}")
    lines += [f"Anchor:      {line}" for line in anchors]
    return lines


def _csv_value(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else value


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")
