"""`matheval regrade` on real result folders of the real model: verdicts restored from the saved texts, old
verdicts kept, the seed's files rewritten consistently (the report reads them without a warning), agents'
candidates re-extracted from their traces, and the grader audit."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import tiny_eval
from matheval.agents.base import AgentParams
from matheval.cli import main
from matheval.report import load_configs
from matheval.regrade import regrade


def files(folder: Path) -> tuple[Path, Path]:
    [journal] = (folder / "answers").glob("*_answers.jsonl")
    return journal, journal.with_suffix(".json")


def read_journal(path: Path) -> tuple[str, list[dict]]:
    lines = path.read_text().splitlines()
    return lines[0], [json.loads(line) for line in lines[1:]]


def write_journal(path: Path, header: str, records: list[dict]) -> None:
    path.write_text("\n".join([header] + [json.dumps(r) for r in records]) + "\n")


@pytest.fixture
def run_copy(synthetic_results, tmp_path) -> Path:
    folder = tmp_path / "results" / synthetic_results.paths.folder.name
    shutil.copytree(synthetic_results.paths.folder, folder)
    return folder


def test_regrade_restores_verdicts_and_rewrites_the_files(run_copy, capsys):
    journal, answers = files(run_copy)
    header, records = read_journal(journal)
    original = json.loads(answers.read_text())
    assert [r["correct"] for r in original] == [r["correct"] for r in records]
    # What an older grader left: record 0 with the opposite verdict and another answer; record 1's response
    # now ends with a reasoning model's answer part, which an older grader could not read.
    first, second = records[0], records[1]
    first.update(correct=not first["correct"], extracted="999")
    second["response"] = f"<think>perhaps {second['gold']}1</think>\nThe answer is $\\boxed{{{second['gold']}}}$."
    second["correct"] = False
    write_journal(journal, header, records)
    answers.write_text(json.dumps(records, indent=2))

    assert main(["regrade", str(run_copy.parent)]) == 0
    printed = capsys.readouterr().out
    # record 0 back to its verdict, record 1 now correct
    assert f"regraded {len(records)} records in 1 configurations: 2 verdicts changed" in printed
    assert f"{first['id']} run 0" in printed and f"{second['id']} run 0" in printed

    header_after, after = read_journal(journal)
    assert header_after == header
    assert [r["correct"] for r in after] == [original[0]["correct"], True] + [r["correct"] for r in original[2:]]
    assert after[0]["extracted"] == original[0]["extracted"] and after[0]["previous"]["extracted"] == "999"
    assert after[1]["previous"]["correct"] is False and after[1]["extracted"] == second["gold"]
    assert all(r["grader"] == "matheval" for r in after)
    assert json.loads(answers.read_text()) == after  # the answers file follows the journal
    with open(run_copy / "metrics.csv", newline="") as handle:
        row = list(csv.DictReader(handle))[-1]
    assert int(row["correct"]) == sum(r["correct"] for r in after)
    [config] = load_configs([run_copy])
    assert config.warnings == []  # metrics.csv and the answers file agree
    assert f"Correct:     {sum(r['correct'] for r in after)}" in (run_copy / "metrics_standard.txt").read_text()
    assert "regraded with matheval" in next((run_copy / "log").glob("*.log")).read_text()
    assert not list(run_copy.rglob(".*_answers*"))  # no temporary file left behind

    # regrading again changes nothing
    assert not regrade([run_copy]).changes


def test_regrade_audit_lists_disagreements(run_copy, capsys):
    journal, _ = files(run_copy)
    header, records = read_journal(journal)
    records[1]["response"] = r"So the name is \boxed{Amy}."
    records[1]["gold"] = "May"  # math-verify reads both as a*m*y
    write_journal(journal, header, records)
    assert main(["regrade", str(run_copy), "--audit"]) == 0
    printed = capsys.readouterr().out
    assert "audit with matheval, math-verify" in printed
    _, after = read_journal(journal)
    assert after[1]["audit"]["matheval"]["correct"] is False and after[1]["audit"]["math-verify"]["correct"] is True
    assert f"{records[1]['id']} run 0: matheval wrong" in printed
    assert all("audit" in r for r in after)


def test_regrade_with_a_peer_grader_and_bad_input(run_copy, tmp_path, capsys):
    assert main(["regrade", str(run_copy), "--grader", "math-verify"]) == 0
    _, after = read_journal(files(run_copy)[0])
    assert all(r["grader"] == "math-verify" and r["previous"]["grader"] == "matheval" for r in after)
    header, _ = read_journal(files(run_copy)[0])
    assert json.loads(header)["identity"]["grader"] == "math-verify"  # a resume cannot mix graders
    assert main(["regrade", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["regrade", str(tmp_path / "empty")]) == 2
    assert "no results in" in capsys.readouterr().err


def test_regrade_recomputes_agent_candidates_from_the_trace(tmp_path):
    """A real majority_vote run: its candidates, re-extracted from the saved sample texts, are the agent's
    own; spoiled candidates are restored from the trace and the vote taken again."""
    outcome = tiny_eval(tmp_path, agent="majority_vote", max_tokens=24, batch_size=12, params=AgentParams(num_runs=3))
    folder = outcome.paths.folder
    journal, answers = files(folder)
    header, records = read_journal(journal)
    assert not regrade([folder]).changes  # the same texts, the same extraction: nothing changes
    _, clean = read_journal(journal)
    for record in records:
        record["samples"] = ["spoiled"] * len(record["samples"])
        record["vote"] = "spoiled"
    write_journal(journal, header, records)
    regrade([folder])
    _, after = read_journal(journal)
    for restored, expected in zip(after, clean):
        assert restored["samples"] == expected["samples"] and restored["vote"] == expected["vote"]
        assert restored["samples_correct"] == expected["samples_correct"]
        assert restored["previous"]["samples"] == ["spoiled"] * len(expected["samples"])
        assert restored["correct"] == expected["correct"] and restored["response"] == expected["response"]


def test_report_shows_grader_disagreements(run_copy, tmp_path):
    """The audit's disagreements in the HTML report: a section listing them, and a problem-card filter that
    shows exactly their cards (in headless Chromium when it is installed)."""
    from matheval.report import write_report
    from test_report import CHROMIUM, Chromium

    journal, _ = files(run_copy)
    header, records = read_journal(journal)
    records[0]["response"], records[0]["gold"] = r"So the name is \boxed{Amy}.", "May"
    records[2]["response"], records[2]["gold"] = r"Hence $y \leq 7$ holds.", r"y \le 7"
    write_journal(journal, header, records)
    outcome = regrade([run_copy], audit=True)
    disagreeing = {item.id for item in outcome.disagreements}
    assert records[0]["id"] in disagreeing
    output, _ = write_report([run_copy], tmp_path / "report.html")
    page = output.read_text()
    assert 'id="disagreements"' in page and 'value="disagree"' in page
    assert len(re.findall(r'<article [^>]*data-disagree="1"', page)) == len(disagreeing)
    if CHROMIUM is None:
        pytest.skip("the page's static checks passed; opening it needs Chromium (apt-get install -y chromium)")
    browser = Chromium(tmp_path / "profile")
    try:
        browser.open(output)
        rows = browser.evaluate("document.querySelectorAll('table.disagreements tbody tr').length")
        assert rows == len(outcome.disagreements)
        graders = browser.evaluate("[...document.querySelectorAll('table.disagreements th')].map(t => t.textContent)")
        assert {"matheval", "math-verify"} <= set(graders)
        browser.evaluate("document.querySelector('.filter input[value=disagree]').click()")
        shown = browser.evaluate("[...document.querySelectorAll('.problem')].filter(p => p.offsetParent !== null)"
                                 ".map(p => p.dataset.pid)")
        assert set(shown) == disagreeing
        assert browser.evaluate("document.querySelector('.filter .shown').textContent").startswith(f"{len(disagreeing)} of")
        assert browser.errors == [] and browser.dialogs == []
    finally:
        browser.close()


def test_eval_with_a_peer_grader(tmp_path, capsys):
    """--grader on a real evaluation: the peer's verdicts in the records, the grader in the run's identity."""
    outcome = tiny_eval(tmp_path, grader="math-verify", max_tokens=16)
    journal, answers = files(outcome.paths.folder)
    header, records = read_journal(journal)
    assert json.loads(header)["identity"]["grader"] == "math-verify"
    assert all(r["grader"] == "math-verify" for r in records)
    with pytest.raises(SystemExit) as stopped:
        main(["eval", "--grader", "sympy"])
    assert stopped.value.code == 2 and "invalid choice: 'sympy'" in capsys.readouterr().err
