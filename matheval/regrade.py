"""`matheval regrade`: grade saved responses again, without generating, so that old runs stay comparable
when the grader improves, and audit the grader against its peers.

For each configuration under the given folders, every journal record is graded again from its saved
texts; the old verdicts stay in the record under ``previous``. The journal, the answers file, the
configuration's metrics.csv row and metrics_<mode>.txt are rewritten, each atomically (a temporary file
renamed over the old one). Agents' candidates are extracted again where their texts are saved (the
trace of majority_vote, best_of_n and debate, program_of_thoughts' printed output) and the vote is taken
again; where they are not (tree_search's steps, tool_integrated's other solutions) the saved candidates
are compared again. With ``--audit`` every response is also graded by every available grader
(:mod:`matheval.grading.graders`); the verdicts go in the record under ``audit`` and the disagreements are
listed (the HTML report has a section for them).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from .agents.programs import MAX_SHOWN_OUTPUT, answer_from_output
from .agents.voting import majority
from .errors import UserError
from .grading import extract_answer, is_equivalent, vote
from .grading.graders import DEFAULT_GRADER, available_graders, get_grader
from .metrics import summarize
from .report.data import ANSWERS_SUFFIX, JOURNAL_SUFFIX, find_configs, read_metrics_csv, row_stem
from .results import (CSV_COLUMNS, RunLog, RunPaths, read_folder_json, update_folder_json, write_atomic,
                      write_metrics_txt)

VERDICT_KEYS = ("extracted", "correct", "truncated", "samples", "samples_correct", "vote", "vote_correct")
SUMMARY_COLUMNS = ("count", "correct", "accuracy", "ci_low", "ci_high", "pass_at_n", "pass_ci_low", "pass_ci_high",
                   "maj_at_n", "maj_ci_low", "maj_ci_high")


@dataclass
class Change:
    where: str  # <run folder>/<stem>
    id: str
    run: int
    before: bool
    after: bool
    extracted_before: str | None
    extracted_after: str | None


@dataclass
class Disagreement:
    where: str
    id: str
    run: int
    verdicts: dict[str, bool]
    extracted: dict[str, str | None]


@dataclass
class Outcome:
    configs: int = 0
    records: int = 0
    changes: list[Change] = field(default_factory=list)
    disagreements: list[Disagreement] = field(default_factory=list)
    graders: list[str] = field(default_factory=list)


def regrade(paths: list[str | Path], grader: str = DEFAULT_GRADER, audit: bool = False) -> Outcome:
    """Regrade every configuration under `paths` (results roots or run folders) and rewrite its files."""
    primary = get_grader(grader)
    auditors = {name: get_grader(name) for name in available_graders()} if audit else {}
    outcome = Outcome(graders=list(auditors))
    found = []
    for path in paths:
        path = Path(path)
        if not path.is_dir():
            raise UserError(f"{path} is not a folder: pass a results folder (such as results/) or a run folder in it")
        configs = find_configs(path)
        if not configs:
            raise UserError(f"no results in {path}: pass a folder written by `matheval eval` or `matheval agent`")
        found += [c for c in configs if c not in found]
    for folder, stem in found:
        regrade_config(folder, stem, grader, primary, auditors, outcome)
    return outcome


def regrade_config(folder: Path, stem: str, grader_name: str, grader, auditors: dict, outcome: Outcome) -> None:
    journal = folder / "answers" / f"{stem}{JOURNAL_SUFFIX}"
    answers = folder / "answers" / f"{stem}{ANSWERS_SUFFIX}"
    if not journal.exists():
        raise UserError(f"{answers} has no journal beside it ({journal.name}): regrade needs the journal")
    header, records = read_journal(journal)
    identity = header.setdefault("identity", {})
    agent = identity.get("agent", "standard")
    if grader_name == DEFAULT_GRADER:  # the grader is part of the run's identity, as `eval --grader` writes it
        identity.pop("grader", None)
    else:
        identity["grader"] = grader_name
    where = f"{folder}/{stem}"
    regraded = []
    for record in records:
        new = regrade_record(record, agent, grader_name, grader)
        if auditors:
            audit_record(new, auditors, where, outcome)
        if bool(new["correct"]) != bool(record.get("correct")) or new.get("extracted") != record.get("extracted"):
            outcome.changes.append(Change(where, str(record["id"]), record.get("run", 0), bool(record.get("correct")),
                                          bool(new["correct"]), record.get("extracted"), new.get("extracted")))
        regraded.append(new)
    outcome.configs += 1
    outcome.records += len(regraded)
    lines = [json.dumps(header, ensure_ascii=False)] + [json.dumps(r, ensure_ascii=False) for r in regraded]
    write_atomic(journal, "\n".join(lines) + "\n")
    if answers.exists():  # a finished run: its derived files follow the journal
        order = {(r["id"], r.get("run", 0)): r for r in regraded}
        previous = json.loads(answers.read_text(encoding="utf-8"))
        final = [order.get((r["id"], r.get("run", 0)), r) for r in previous]
        write_atomic(answers, json.dumps(final, indent=2, ensure_ascii=False) + "\n")
        update_metrics(folder, stem, final)
    changed = sum(1 for c in outcome.changes if c.where == where)
    log = RunLog(folder / "log" / f"{stem}.log")
    log.write(f"regraded with {grader_name}: {changed} of {len(regraded)} verdicts or answers changed")
    log.close()


def read_journal(path: Path) -> tuple[dict, list[dict]]:
    """The header and the records (a torn last line is dropped, as resume drops it)."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    if lines and not text.endswith("\n"):
        lines.pop()
    if not lines:
        raise UserError(f"{path} is empty: nothing to regrade")
    try:
        header = json.loads(lines[0])
        records = {}
        for line in lines[1:]:
            record = json.loads(line)
            records[(record["id"], record.get("run", 0))] = record
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise UserError(f"{path} is not a matheval journal ({exc}): restore it from the run folder") from exc
    return header, list(records.values())


def regrade_record(record: dict, agent: str, grader_name: str, grader) -> dict:
    """The record graded again from its saved texts; the old verdicts kept under "previous"."""
    new = dict(record)
    new["previous"] = {key: record[key] for key in VERDICT_KEYS if key in record}
    new["previous"]["grader"] = record.get("grader", DEFAULT_GRADER)
    gold = str(record.get("gold", ""))
    response = record.get("response") or ""
    reason = response_finish_reason(record, response)
    samples = record.get("samples")
    if samples:
        texts = sample_texts(record, agent)
        if texts is not None:
            samples = [extract_answer(text, why) for text, why in texts]
        elif agent == "program_of_thoughts":
            samples = [program_answer(run, old) for run, old in zip(record.get("agent", {}).get("programs", []), samples)]
        new["samples"] = samples
        new["samples_correct"] = [s is not None and is_equivalent(s, gold) for s in samples]
        new["vote"] = vote(samples)
        new["vote_correct"] = new["vote"] is not None and is_equivalent(new["vote"], gold)
        if agent in ("majority_vote", "debate") and texts is not None:
            winner, _ = majority(samples)
            if winner is not None:
                response, reason = texts[winner]
                if response != record.get("response"):
                    new["previous"]["response"] = record.get("response")
                    new["response"] = response
    if agent in ("tree_search", "program_of_thoughts"):  # the answer is not the response's own: compare it again
        answer = new.get("vote") if agent == "program_of_thoughts" and samples else record.get("extracted")
        graded = grader(answer, gold, None) if answer is not None else None
        new["extracted"] = answer
        new["correct"] = bool(graded and graded.correct)
    else:
        graded = grader(response, gold, reason)
        new["extracted"], new["correct"], new["truncated"] = graded.extracted, graded.correct, graded.truncated
    new["grader"] = grader_name
    return new


def response_finish_reason(record: dict, response: str) -> str | None:
    for call in reversed(record.get("trace") or []):
        for text, reason in zip(call.get("texts") or [], call.get("finish_reasons") or []):
            if text == response:
                return reason
    return record.get("finish_reason")


def sample_texts(record: dict, agent: str) -> list[tuple[str, str | None]] | None:
    """(text, finish reason) of each candidate, from the trace, for the agents whose candidates are the
    answers of their final texts; None where those texts are not saved."""
    trace, count = record.get("trace") or [], len(record.get("samples") or [])
    if agent in ("majority_vote", "best_of_n"):
        calls = [c for c in trace if c.get("role") == "sample" and len(c.get("texts") or []) == count]
        return _pairs(calls[0]) if calls else None
    if agent == "debate":
        calls = [c for c in trace if c.get("role") == "debate"]
        if len(calls) == 1 and len(calls[0].get("texts") or []) == count:
            return _pairs(calls[0])
        last = calls[-count:] if len(calls) > count else []
        if last and all(len(c.get("texts") or []) == 1 for c in last):
            return [pair for c in last for pair in _pairs(c)]
    return None


def _pairs(call: dict) -> list[tuple[str, str | None]]:
    texts = call.get("texts") or []
    reasons = list(call.get("finish_reasons") or []) + [None] * len(texts)
    return list(zip(texts, reasons))


def program_answer(run: dict, old: str | None) -> str | None:
    """A program's answer read again from its saved output (kept whole only when it was short enough)."""
    stdout = run.get("stdout") or ""
    if not run.get("ok") or len(stdout) >= MAX_SHOWN_OUTPUT:
        return old if run.get("ok") else None
    return answer_from_output(stdout)


def audit_record(record: dict, auditors: dict, where: str, outcome: Outcome) -> None:
    gold, response = str(record.get("gold", "")), record.get("response") or ""
    reason = response_finish_reason(record, response)
    grades = {name: grade_with(response, gold, reason) for name, grade_with in auditors.items()}
    record["audit"] = {name: {"correct": g.correct, "extracted": g.extracted} for name, g in grades.items()}
    if len({g.correct for g in grades.values()}) > 1:
        outcome.disagreements.append(Disagreement(where, str(record["id"]), record.get("run", 0),
                                                  {n: g.correct for n, g in grades.items()},
                                                  {n: g.extracted for n, g in grades.items()}))


def update_metrics(folder: Path, stem: str, records: list[dict]) -> None:
    """The configuration's latest metrics.csv row and metrics_<mode>.txt, with the new counts."""
    summary = summarize(records).as_dict()
    csv_path = folder / "metrics.csv"
    rows = read_metrics_csv(csv_path)
    matching = [i for i, r in enumerate(rows) if stem in (row_stem(r), row_stem(r, with_backend=True))]
    if not matching:
        return
    row = rows[matching[-1]]
    for key in SUMMARY_COLUMNS:
        value = summary.get(key)
        row[key] = "" if value is None else (f"{value:.6g}" if isinstance(value, float) else value)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(csv_path, buffer.getvalue())
    paths = RunPaths(folder, row.get("model", ""), row.get("dataset", ""), stem.rsplit("_", 1)[-1])
    typed = dict(row)
    for key in ("wall_seconds", "tokens_per_second"):
        typed[key] = float(row.get(key) or 0)
    write_metrics_txt(paths, typed, summarize(records))
    metrics_json = read_folder_json(folder / "metrics.json")
    if stem in metrics_json:  # metrics.json follows the new verdicts too
        update_folder_json(folder / "metrics.json", stem, {**metrics_json[stem], **summary})


def describe(outcome: Outcome, limit: int = 20) -> list[str]:
    """What `matheval regrade` prints: how many verdicts changed and where, then the disagreements."""
    gained = sum(1 for c in outcome.changes if c.after and not c.before)
    lost = sum(1 for c in outcome.changes if c.before and not c.after)
    flipped = gained + lost
    lines = [f"regraded {outcome.records} records in {outcome.configs} configurations: {flipped} verdicts changed "
             f"({gained} now correct, {lost} now wrong), {len(outcome.changes) - flipped} other extracted answers changed"]
    for change in outcome.changes[:limit]:
        verdict = ("wrong -> correct" if change.after else "correct -> wrong") if change.before != change.after \
            else f"still {'correct' if change.after else 'wrong'}"
        lines.append(f"  {change.where} {change.id} run {change.run}: {verdict} "
                     f"({change.extracted_before!r} -> {change.extracted_after!r})")
    if len(outcome.changes) > limit:
        lines.append(f"  ... and {len(outcome.changes) - limit} more (each record keeps its old verdict under 'previous')")
    if outcome.graders:
        lines.append(f"audit with {', '.join(outcome.graders)}: {len(outcome.disagreements)} of {outcome.records} "
                     "responses graded differently")
        for item in outcome.disagreements[:limit]:
            verdicts = ", ".join(f"{name} {'correct' if ok else 'wrong'} ({item.extracted[name]!r})"
                                 for name, ok in item.verdicts.items())
            lines.append(f"  {item.where} {item.id} run {item.run}: {verdicts}")
        if len(outcome.disagreements) > limit:
            lines.append(f"  ... and {len(outcome.disagreements) - limit} more (in the records under 'audit'; "
                         "`matheval report` lists them all)")
    return lines
