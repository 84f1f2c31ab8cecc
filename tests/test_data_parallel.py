"""--data_parallel and --ray_address on the CPU with the real SmolLM2 model: replicas give the answers of one
engine, a replica killed with SIGKILL costs nothing but time, a driver killed with SIGKILL leaves no replica
behind and resumes at another N, and a local Ray cluster on 127.0.0.1 serves the same answers."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, tiny_eval

SETTINGS = ["--dataset", "synthetic", "--count", "6", "--batch_size", "1", "--max_new_tokens", "32",
            "--device", "cpu", "--no_progress"]


def cli(results: Path, round_name: str, *flags: str, wait: bool = True):
    command = [sys.executable, "-m", "evaluation.eval", *SETTINGS, "--results_dir", str(results),
               "--round", round_name, *flags]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    if wait:
        return subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env, timeout=900)
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def folder(results: Path, round_name: str) -> Path:
    return next(results.glob(f"{round_name}_*"))


def responses(results: Path, round_name: str) -> dict[str, str]:
    answers = next((folder(results, round_name) / "answers").glob("*_answers.json"))
    return {record["id"]: record["response"] for record in json.loads(answers.read_text())}


def journal_records(results: Path, round_name: str) -> list[dict]:
    path = next((folder(results, round_name) / "answers").glob("*_answers.jsonl"))
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [line for line in lines if not line.get("header")]


def wait_for(predicate, timeout: float = 600.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out waiting")


def replica_pids(log: Path) -> list[int]:
    text = log.read_text() if log.exists() else ""
    found = re.search(r"replica\(s\) ready \((.*)\)", text)
    return [int(pid) for pid in re.findall(r"pid (\d+)", found.group(1))] if found else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, str]:
    """One engine in this process: the answers every replicated run must reproduce."""
    results = tmp_path_factory.mktemp("dp-reference")
    done = cli(results, "one")
    assert done.returncode == 0, done.stderr
    return responses(results, "one")


def test_two_replicas_give_the_answers_of_one(tmp_path, synthetic_results):
    outcome = tiny_eval(tmp_path, data_parallel=2)
    assert [r["response"] for r in outcome.records] == [r["response"] for r in synthetic_results.records]
    assert outcome.row["data_parallel"] == 2
    assert sum(each["problems"] for each in outcome.row["replicas"]) == 4
    text = (outcome.folder / "metrics_standard.txt").read_text()
    assert "Replica 0:" in text and "Replica 1:" in text


def test_a_replica_killed_mid_run_costs_nothing(tmp_path, reference):
    run = cli(tmp_path, "kill", "--data_parallel", "2", wait=False)
    log = wait_for(lambda: next(tmp_path.glob("kill_*/log/*.log"), None))
    pids = wait_for(lambda: replica_pids(log))
    wait_for(lambda: len(journal_records(tmp_path, "kill")) >= 1)
    os.kill(pids[0], signal.SIGKILL)
    _, stderr = run.communicate(timeout=900)
    assert run.returncode == 0, stderr
    assert re.search(r"replica 0 \(cpu x1\) died \(exit code -9\); its \d+ problems in flight run again", stderr)
    ids = [record["id"] for record in journal_records(tmp_path, "kill")]
    assert sorted(ids) == sorted(reference) and len(ids) == len(set(ids))  # every problem exactly once
    assert responses(tmp_path, "kill") == reference
    assert "died" in (folder(tmp_path, "kill") / "metrics_standard.txt").read_text()


def test_a_killed_driver_leaves_no_replica_and_resumes_at_another_n(tmp_path, reference):
    run = cli(tmp_path, "resume", "--data_parallel", "2", wait=False)
    log = wait_for(lambda: next(tmp_path.glob("resume_*/log/*.log"), None))
    pids = wait_for(lambda: replica_pids(log))
    wait_for(lambda: len(journal_records(tmp_path, "resume")) >= 2)
    run.kill()
    run.communicate()
    wait_for(lambda: not any(alive(pid) for pid in pids), timeout=60)  # the replicas saw their pipes close
    saved = len(journal_records(tmp_path, "resume"))
    again = cli(tmp_path, "resume")  # one engine, in process
    assert again.returncode == 0, again.stderr
    assert f"{saved}/6 problems already done" in again.stderr
    assert responses(tmp_path, "resume") == reference


def test_more_replicas_than_cores_or_a_dead_ray_address_is_one_line(tmp_path):
    cores = len(os.sched_getaffinity(0))
    too_many = cli(tmp_path, "bad", "--data_parallel", str(cores + 1))
    assert too_many.returncode == 2
    assert too_many.stderr.strip().splitlines() == [
        f"python -m evaluation.eval: error: --data_parallel {cores + 1} on the CPU needs a core per replica but this "
        f"process may use {cores}: use --data_parallel {cores} or fewer"]
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = cli(tmp_path, "bad", "--ray_address", f"127.0.0.1:{port}")
    assert unreachable.returncode == 2 and len(unreachable.stderr.strip().splitlines()) == 1
    assert f"no Ray cluster answers at 127.0.0.1:{port}" in unreachable.stderr
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.fixture
def ray_cluster(tmp_path):
    """A real one-node Ray cluster on 127.0.0.1 with two CPUs (`ray start --head`), stopped afterwards."""
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    if ray is None:
        pytest.skip("Ray is not installed: pip install 'matheval[ray]' (CI installs it)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    subprocess.run([ray, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "2",
                    "--include-dashboard=false", "--disable-usage-stats"], check=True, capture_output=True, env=env,
                   timeout=180)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, env=env, timeout=120)


def test_a_local_ray_cluster_serves_the_same_answers(tmp_path, reference, ray_cluster):
    done = cli(tmp_path, "ray", "--data_parallel", "2", "--ray_address", ray_cluster)
    assert done.returncode == 0, done.stderr
    assert "2 transformers replica(s) ready (0: ray:" in done.stderr
    assert responses(tmp_path, "ray") == reference
