"""The harness's share of a run: grading and vote grouping happen off the event loop, and
benchmarks/harness_probe.py measures the rest (real native engine on SmolLM2, real grading, CPU)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_grading_and_vote_grouping_run_off_the_event_loop(tmp_path, data_dir, monkeypatch):
    from matheval import runner
    from matheval.agents import majority_vote
    from matheval.api import evaluate

    threads = {"grade": set(), "vote": set()}

    def spy(name, function):
        def called(*args, **kwargs):
            threads[name].add(threading.get_ident())
            return function(*args, **kwargs)
        return called

    monkeypatch.setattr(runner, "grade_attempt", spy("grade", runner.grade_attempt))
    monkeypatch.setattr(majority_vote, "majority", spy("vote", majority_vote.majority))
    outcome = evaluate(dataset="gsm8k", data_dir=str(data_dir), count=2, agent="majority_vote", num_runs=2,
                       backend="native", device="cpu", max_new_tokens=4, results_dir=str(tmp_path), progress=False)
    assert outcome.summary.count == 2
    loop_thread = threading.get_ident()  # asyncio.run ran the workflows on this (the calling) thread
    assert threads["grade"] and loop_thread not in threads["grade"]
    assert threads["vote"] and loop_thread not in threads["vote"]


def test_harness_probe_splits_a_run(tmp_path, data_dir):
    out = tmp_path / "probe.json"
    command = [sys.executable, str(REPO / "benchmarks" / "harness_probe.py"), "--steps", "--json", str(out), "--",
               "eval", "--inference_backend", "native", "--device", "cpu", "--dataset", "gsm8k", "--data_dir",
               str(data_dir), "--count", "3", "--max_new_tokens", "4", "--results_dir", str(tmp_path / "r"),
               "--no_progress"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    numbers = json.loads(out.read_text())
    assert numbers["calls"]["grading"] == 3 and numbers["calls"]["journal"] == 3
    assert numbers["metrics"]["count"] == 3 and numbers["native_stats"]["decode_steps"] > 0
    assert 0 < numbers["event_loop_busy_s"] < numbers["run_s"]
    assert 0 < numbers["harness_share_pct"] < 100
    assert numbers["engine_steps"]["decode"]["steps"] > 0 and numbers["engine_busy_s"] <= numbers["run_s"] + 0.1
    assert "native start-up:" in numbers["native_startup"]
    assert "[probe] decode:" in done.stdout
