"""The journal and the seed's result files, on real files."""

from __future__ import annotations

import csv
import json
from datetime import datetime

import pytest

from matheval.errors import UserError
from matheval.metrics import summarize, wilson_interval
from matheval.results import Journal, append_metrics_row, run_paths, write_atomic


def record(i: int, correct: bool = True) -> dict:
    return {"id": f"p{i}", "run": 0, "correct": correct, "prompt_tokens": 10, "completion_tokens": 5,
            "calls": 1, "seconds": 0.5}


def test_journal_survives_a_torn_last_line(tmp_path):
    path = tmp_path / "answers" / "m_d_standard_answers.jsonl"
    journal = Journal(path, {"model": "m"})
    journal.append(record(1))
    journal.append(record(2))
    journal.close()
    with open(path, "a") as handle:  # what a kill in the middle of a write leaves
        handle.write('{"id": "p3", "run": 0, "corr')
    resumed = Journal(path, {"model": "m"})
    assert set(resumed.records) == {("p1", 0), ("p2", 0)}
    resumed.append(record(3))
    resumed.close()
    lines = path.read_text().splitlines()
    assert [json.loads(line).get("id") for line in lines[1:]] == ["p1", "p2", "p3"]


def test_journal_refuses_other_settings_naming_the_flags(tmp_path):
    path = tmp_path / "j.jsonl"
    identity = {"model": "m", "backend": "transformers", "params": {"max_tokens": 64, "temperature": 0.0, "top_p": 1.0}}
    Journal(path, identity).close()
    changed = {"model": "m", "backend": "transformers", "params": {"max_tokens": 32, "temperature": 0.7, "top_p": 1.0}}
    with pytest.raises(UserError) as refused:
        Journal(path, changed)
    message = str(refused.value)
    assert "(--max_new_tokens 64 -> 32, --temperature 0 -> 0.7)" in message  # the flags, not internal names
    assert "max_tokens" not in message and "{" not in message and "\n" not in message


def test_unfinished_run_is_continued_on_a_later_day(tmp_path):
    first = run_paths(tmp_path, "r", "m", "gsm8k", 5, "standard", today=datetime(2026, 11, 23))
    assert first.folder.name == "r_m_gsm8k_5_1123"
    Journal(first.journal, {}).close()
    later = run_paths(tmp_path, "r", "m", "gsm8k", 5, "standard", today=datetime(2026, 11, 24))
    assert later.folder == first.folder
    write_atomic(first.answers, "[]")  # finished: a later day starts a new folder
    assert run_paths(tmp_path, "r", "m", "gsm8k", 5, "standard", today=datetime(2026, 11, 24)).folder.name == \
        "r_m_gsm8k_5_1124"


def test_atomic_write_and_metrics_rows(tmp_path):
    paths = run_paths(tmp_path, "r", "m", "d", 2, "standard")
    append_metrics_row(paths, {"model": "m", "accuracy": 0.5})
    append_metrics_row(paths, {"model": "m", "accuracy": 1.0, "mode": "fewshot"})
    with open(paths.metrics_csv) as handle:
        rows = list(csv.DictReader(handle))
    assert [r["accuracy"] for r in rows] == ["0.5", "1"]
    assert [p.name for p in paths.folder.iterdir() if p.name.startswith(".")] == []


def test_wilson_interval_and_summary():
    low, high = wilson_interval(7, 20)
    assert 0.18 < low < 0.19 and 0.56 < high < 0.58  # textbook values for 7/20
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    summary = summarize([record(1, True), record(2, False)])
    assert summary.accuracy == 0.5 and summary.tokens == 30 and summary.pass_at_n is None
    sampled = [dict(record(1), samples_correct=[False, True], vote_correct=False),
               dict(record(2), samples_correct=[False, False], vote_correct=False)]
    summary = summarize(sampled)
    assert summary.pass_at_n == 0.5 and summary.maj_at_n == 0.0 and summary.num_samples == 2
