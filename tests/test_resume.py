"""Resume after a real `kill -9`: nothing finished is lost, nothing is done twice."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time

from conftest import REPO

COMMAND = ["--dataset", "synthetic", "--count", "6", "--batch_size", "1", "--max_new_tokens", "24", "--round", "kill"]


def journal_records(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()[1:] if line.endswith("}")]


def test_kill_dash_nine_then_rerun_continues(tmp_path, smollm2_path):
    args = [sys.executable, "-m", "evaluation.eval", *COMMAND, "--results_dir", str(tmp_path), "--no_progress"]
    process = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 600
    journal = None
    while time.time() < deadline:
        found = list(tmp_path.glob("*/answers/*_answers.jsonl"))
        if found and len(journal_records(found[0])) >= 2:
            journal = found[0]
            break
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.2)
    assert journal is not None, "the run never journaled two problems"
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = journal_records(journal)
    assert 2 <= len(before) < 6
    assert not journal.with_suffix(".json").exists(), "final files appear only when the run completes"

    rerun = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(before)}/6 problems already done" in rerun.stderr
    after = journal_records(journal)
    assert [r["id"] for r in after] == [r["id"] for r in before] + [r["id"] for r in after[len(before):]]
    assert len(after) == 6 and len({r["id"] for r in after}) == 6, "no problem repeated"
    assert after[: len(before)] == before, "finished problems are kept as they were"
    answers = json.loads(journal.with_suffix(".json").read_text())
    assert [a["id"] for a in answers] == [f"synthetic-{i}" for i in range(6)]
    with open(journal.parent.parent / "metrics.csv") as handle:
        [row] = list(csv.DictReader(handle))
    assert row["resumed"] == str(len(before)) and row["count"] == "6"
    assert not list(journal.parent.glob(".*")), "no temporary files left behind"

    again = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "6/6 problems already done" in again.stderr
    assert len(journal_records(journal)) == 6


def start_eval(tmp_path):
    args = [sys.executable, "-m", "evaluation.eval", "--dataset", "synthetic", "--count", "4", "--batch_size", "4",
            "--max_new_tokens", "1000", "--results_dir", str(tmp_path), "--no_progress"]
    return subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_log(tmp_path, process, text: str) -> None:
    deadline = time.time() + 300
    while time.time() < deadline:
        logs = list(tmp_path.glob("*/log/*.log"))
        if logs and text in logs[0].read_text():
            return
        assert process.poll() is None, process.communicate()[1]
        time.sleep(0.1)
    raise AssertionError(f"the run log never said {text!r}")


def assert_stopped_with_one_line(process, tmp_path) -> None:
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted: 0/4 problems had finished, nothing to keep" in stderr and "rerun the same command" in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert not list(tmp_path.iterdir()), "a run stopped before any problem finished leaves no folder behind"


def test_ctrl_c_stops_a_batch_in_flight_and_says_how_to_continue(tmp_path, smollm2_path):
    process = start_eval(tmp_path)
    wait_for_log(tmp_path, process, "model loaded")
    time.sleep(3)  # the batch is generating now (1000 tokens take minutes on this CPU)
    process.send_signal(signal.SIGINT)
    assert_stopped_with_one_line(process, tmp_path)


def test_ctrl_c_while_the_model_loads_exits_at_once_with_one_line(tmp_path, smollm2_path):
    # A KeyboardInterrupt inside a half-done import used to surface as an unrelated error
    # ("Could not import module 'LlamaConfig'") or a hang; Ctrl-C at any moment of loading must say one line.
    # (about one moment in ten hit an import before the fix, so sample eight moments of the ~2 s of loading)
    for delay in (0.0, 0.3, 0.6, 0.9, 1.2, 1.5, 1.8, 2.1):
        process = start_eval(tmp_path)
        wait_for_log(tmp_path, process, "start model=")
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        assert_stopped_with_one_line(process, tmp_path)
