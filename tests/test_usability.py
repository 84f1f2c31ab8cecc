"""What a researcher reaches for, end to end on the real model: thread counts that fit the machine, progress
from the first second, the manifest and metrics.json, several datasets and a file of one's own in one load,
a kept session, backends side by side, engine options and config files, fast one-line failures, SIGTERM."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import matheval
from conftest import REPO
from matheval.errors import UserError
from matheval.manifest import flat_settings, read_entry, read_manifest
from matheval.threads import plan_threads, usable_cores


def run(*args, module="matheval", env=None, timeout=600):
    environment = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=environment)


def own_file(folder: Path) -> Path:
    """Three problems of one's own in the question/answer layout (the answer GSM8K-style)."""
    path = folder / "mine.jsonl"
    rows = [{"question": f"Tom has {a} apples and buys {b} more. How many apples does he have?",
             "answer": f"{a} + {b} = {a + b}\n#### {a + b}"} for a, b in ((2, 3), (10, 4), (7, 7))]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


# ---------------------------------------------------------------- threads

def test_thread_plan_follows_the_flag_the_environment_and_the_free_cores(monkeypatch):
    assert plan_threads(3).threads == 3 and plan_threads(3).source == "--threads"
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert plan_threads().threads == 2 and plan_threads().source == "OMP_NUM_THREADS"
    monkeypatch.delenv("OMP_NUM_THREADS")
    plan = plan_threads()
    cores = usable_cores()
    assert cores == len(os.sched_getaffinity(0))
    expected = max(1, int(cores - os.getloadavg()[0] * cores / os.cpu_count() + 0.5))
    assert plan.source == "free cores" and 1 <= plan.threads <= cores
    assert abs(plan.threads - (expected - (1 if expected >= 4 else 0))) <= 1  # the load moves while we look
    assert f"{cores} cores usable" in plan.describe() and "--threads N overrides" in plan.describe()


def test_the_run_says_its_threads_and_records_them(synthetic_results):
    log = Path(synthetic_results.paths.log).read_text()
    assert re.search(r"threads: \d+ \(", log)
    entry = read_entry(synthetic_results.paths.folder, synthetic_results.paths.stem)
    import torch

    assert entry["resolved"]["threads"] == torch.get_num_threads()


# ---------------------------------------------------------------- manifest, metrics.json

def test_manifest_records_every_setting_as_resolved(synthetic_results):
    folder, stem = Path(synthetic_results.paths.folder), synthetic_results.paths.stem
    entry = read_entry(folder, stem)
    assert entry["status"] == "finished" and entry["files"]["answers"] == synthetic_results.paths.answers.name
    settings = entry["settings"]
    assert (settings["max_new_tokens"], settings["temperature"], settings["top_p"], settings["seed"]) == (48, 0.0, 1.0, 0)
    assert settings["inference_backend"] == "transformers" and settings["mode"] == "standard"
    assert settings["fewshot_k"] == 4 and settings["num_runs"] == 1 and "sample_temperature" in settings
    assert entry["resolved"]["batch_size"] == 4 and entry["resolved"]["device"] == "cpu"
    assert entry["resolved"]["dtype"] == "float32"
    assert entry["engine"]["backend"] == "transformers" and entry["engine"]["options"]["max_new_tokens"] == 48
    assert entry["model"]["display"] == "smollm2-135m" and entry["dataset"]["problems"] == 4
    assert "{question}" in entry["prompt"]["messages"][-1]["content"]
    environment = entry["environment"]
    assert environment["packages"]["torch"] and environment["python"] and environment["device_name"]
    assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", environment["git_commit"] or "")
    [invocation] = entry["invocations"]
    assert invocation["new_problems"] == 4 and invocation["ended"] == "finished" and invocation["wall_seconds"] > 0
    assert flat_settings(entry)["batch_size"] == 4 and list(read_manifest(folder)) == [stem]
    # metrics.json: the metrics.csv row, typed
    metrics = json.loads((folder / "metrics.json").read_text())["configurations"][stem]
    with open(folder / "metrics.csv", newline="") as handle:
        [row] = list(csv.DictReader(handle))
    assert metrics["correct"] == int(row["correct"]) and metrics["accuracy"] == pytest.approx(float(row["accuracy"]))
    assert metrics["max_new_tokens"] == 48 and metrics["engine_seconds_per_problem"] > 0
    assert metrics["completion_tokens_per_problem"] == pytest.approx(float(row["completion_tokens_per_problem"]))


def test_new_settings_reach_the_manifest_without_an_edit():
    """A field added to EvalConfig, AgentParams or GenerationSettings (a preset, a system prompt, top-k) is
    recorded under its own name: the manifest is written from the dataclasses themselves."""
    from dataclasses import dataclass, field, make_dataclass

    from matheval.agents.base import AgentParams
    from matheval.evaluate import EvalConfig
    from matheval.generation import GenerationSettings
    from matheval.manifest import settings_of

    Generation = make_dataclass("Generation", [("top_k", int, 20)], bases=(GenerationSettings,), frozen=True)
    Params = make_dataclass("Params", [("system_prompt", str, "Be brief.")], bases=(AgentParams,))

    @dataclass
    class Config(EvalConfig):
        preset: str = "qwen-math"
        params: AgentParams = field(default_factory=lambda: Params(generation=Generation(max_new_tokens=64)))

    settings = settings_of(Config(backend="native", engine_extra={"max_num_seqs": 8}))
    assert (settings["preset"], settings["system_prompt"], settings["top_k"]) == ("qwen-math", "Be brief.", 20)
    assert settings["max_new_tokens"] == 64 and settings["inference_backend"] == "native"
    assert settings["engine_args"] == {"max_num_seqs": 8} and "progress" not in settings


# ---------------------------------------------------------------- progress, batch auto

def test_progress_moves_before_any_problem_finishes_and_auto_is_resolved(tmp_path, smollm2_path):
    """Batch as large as the run: no problem finishes until the end, yet the line shows tokens/s and the
    sequences in flight; `--batch_size auto` is recorded as the number it chose."""
    done = run("eval", "--dataset", "synthetic", "--count", "2", "--batch_size", "auto", "--max_new_tokens", "32",
               "--results_dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    early = [part for part in done.stderr.split("\r") if " 0/2 " in part]
    assert any("seqs=2" in part for part in early), early
    assert any(float(m) > 0 for part in early for m in re.findall(r"tok/s=([\d.]+)", part)), early
    [folder] = tmp_path.iterdir()
    entry = next(iter(read_manifest(folder).values()))
    assert entry["settings"]["batch_size"] == "auto" and isinstance(entry["resolved"]["batch_size"], int)
    with open(folder / "metrics.csv", newline="") as handle:
        [row] = list(csv.DictReader(handle))
    assert row["batch_size"] == str(entry["resolved"]["batch_size"])


# ---------------------------------------------------------------- many datasets, own files, config files

def test_several_datasets_one_load_from_a_config_file(tmp_path, smollm2_path):
    mine = own_file(tmp_path)
    config = tmp_path / "run.yaml"
    config.write_text(f"dataset: [synthetic, {mine}]\nlimit: 2\nsample_seed: 3\nbatch_size: 2\n"
                      f"max_new_tokens: 8\nresults_dir: {tmp_path / 'results'}\nengine_args: {{}}\n")
    done = run("eval", "--config", str(config), "--max_new_tokens", "12")  # the command line wins
    assert done.returncode == 0, done.stderr
    folders = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert [re.sub(r"_\d{4}$", "", f) for f in folders] == ["run_smollm2-135m_mine.sample3_2",
                                                             "run_smollm2-135m_synthetic.sample3_2"]
    assert len(done.stdout.strip().splitlines()) == 2  # a line per dataset
    logs = {f: next((tmp_path / "results" / f / "log").iterdir()).read_text() for f in folders}
    assert sum("model loaded" in text for text in logs.values()) == 1  # one load for both
    for folder in folders:
        entry = next(iter(read_manifest(tmp_path / "results" / folder).values()))
        assert entry["settings"]["max_new_tokens"] == 12 and entry["settings"]["limit"] == 2
    mine_entry = next(iter(read_manifest(tmp_path / "results" / folders[0]).values()))
    assert mine_entry["dataset"]["file"] == str(mine) and len(mine_entry["dataset"]["sha256"]) == 64
    answers = json.loads(next((tmp_path / "results" / folders[0] / "answers").glob("*.json")).read_text())
    assert {a["gold"] for a in answers} <= {"5", "14"} and len(answers) == 2

    bad = tmp_path / "bad.yaml"
    bad.write_text("max_tokens: 8\n")
    refused = run("eval", "--config", str(bad))
    assert refused.returncode == 2 and "unknown setting 'max_tokens' (did you mean max_new_tokens?)" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_a_session_keeps_one_model_across_datasets(tmp_path, smollm2_path):
    mine = own_file(tmp_path)
    with matheval.load("smollm2-135m", batch_size=2, device="cpu") as session:
        first = matheval.evaluate(dataset="synthetic", engine=session, count=1, max_new_tokens=8,
                                  results_dir=str(tmp_path), progress=False)
        engine = session.engine()
        second = matheval.evaluate(dataset=str(mine), engine=session, count=1, max_new_tokens=8,
                                   results_dir=str(tmp_path), progress=False)
        assert session.engine() is engine and len(session._engines) == 1  # loaded once, kept
        assert first.folder != second.folder and second.records[0]["gold"] == "5"
        (tmp_path / "other").mkdir()
        same_name = tmp_path / "other" / "mine.jsonl"  # another file of the same name: never mixed into its folder
        same_name.write_text(json.dumps({"problem": "What is 6*7?", "answer": "42"}) + "\n")
        with pytest.raises(UserError, match=r"the --dataset file's sha256 \w+ -> \w+"):
            matheval.evaluate(dataset=str(same_name), engine=session, count=1, max_new_tokens=8,
                              results_dir=str(tmp_path), progress=False)
        with pytest.raises(UserError, match="batch_size: the session decides"):
            matheval.evaluate(dataset="synthetic", engine=session, batch_size=4, results_dir=str(tmp_path))
        with pytest.raises(UserError, match="holds smollm2-135m, not Qwen3-0.6B"):
            matheval.evaluate("Qwen3-0.6B", "synthetic", engine=session, results_dir=str(tmp_path))
    assert session._engines == {}  # closed with the block


# ---------------------------------------------------------------- backends side by side, engine args

def test_two_backends_share_a_round_and_resume_each_their_own(tmp_path, smollm2_path):
    common = ["eval", "--dataset", "synthetic", "--count", "2", "--max_new_tokens", "8", "--round", "both",
              "--results_dir", str(tmp_path), "--no_progress"]
    assert run(*common, "--batch_size", "2").returncode == 0
    native = [*common, "--inference_backend", "native", "--engine_args", "num_kv_blocks=64,decode_steps=1"]
    done = run(*native)
    assert done.returncode == 0, done.stderr
    [folder] = tmp_path.iterdir()
    names = sorted(p.name for p in (folder / "answers").iterdir())
    assert names == ["smollm2-135m_synthetic_standard+native_answers.json",
                     "smollm2-135m_synthetic_standard+native_answers.jsonl",
                     "smollm2-135m_synthetic_standard_answers.json", "smollm2-135m_synthetic_standard_answers.jsonl"]
    entry = read_entry(folder, "smollm2-135m_synthetic_standard+native")
    assert entry["engine"]["backend"] == "native" and entry["engine"]["options"]["num_kv_blocks"] == 64
    assert entry["settings"]["engine_args"] == {"num_kv_blocks": 64, "decode_steps": 1}
    again = run(*native)
    assert again.returncode == 0 and "2/2 problems already done" in again.stderr
    compare = run("compare", str(tmp_path))
    assert "standard (transformers)" in compare.stdout and "standard (native)" in compare.stdout


# ---------------------------------------------------------------- failures in one line, fast

FAST_FAILURES = [
    (["--device", "cuda"], {}, "this torch"),
    (["--model", "someone/not-cached-model"], {"HF_HUB_OFFLINE": "1"}, "not in the local Hugging Face cache"),
    (["--model", "someone/not-cached-model"], {"HF_ENDPOINT": "http://127.0.0.1:9"}, "127.0.0.1 cannot be reached"),
    (["--engine_args", "flash=1"], {}, "--engine_args flash: not an option of the transformers backend"),
    (["--engine_args", "nonsense"], {}, "expected key=value pairs"),
    (["--count", "2", "--limit", "2"], {}, "exclude each other"),
    (["--dataset", "synthetic,nosuchset"], {}, "unknown dataset 'nosuchset'"),
    (["--threads", "0"], {}, "expected a positive integer"),
]


@pytest.mark.parametrize("args,env,message", FAST_FAILURES, ids=[m for _, _, m in FAST_FAILURES])
def test_fast_failures_are_one_line_and_leave_nothing(tmp_path, smollm2_path, args, env, message):
    import torch

    if args[:2] == ["--device", "cuda"] and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    done = run("eval", *args, "--results_dir", str(tmp_path / "results"), env=env)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and message in lines[0], done.stderr
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_version_help_defaults_and_the_datasets_list():
    assert run("--version").stdout.strip() == f"matheval {matheval.__version__}"
    text = " ".join(run("eval", "--help").stdout.split())
    assert "--max_new_tokens MAX_NEW_TOKENS token budget per response (default: 1024)" in text
    assert "(default: synthetic)" in text and "--engine_args KEY=VALUE,..." in text
    listing = run("datasets").stdout
    assert re.search(r"^gsm8k\s+1319\s+gsm8k/test.jsonl\s+openai/gsm8k \[main\]", listing, re.M)
    assert re.search(r"^aime25\s+30\s+qwen25math/aime25/test.jsonl\s+math-ai/aime25", listing, re.M)


def test_the_example_script_takes_max_new_tokens(tmp_path, smollm2_path):
    env = dict(COUNT="1", DATASET="synthetic", MAX_NEW_TOKENS="8", RESULTS_DIR=str(tmp_path))
    done = subprocess.run(["bash", "scripts/eval_batch_example.sh", "1", "transformers"], cwd=REPO, text=True,
                          capture_output=True, env=dict(os.environ, PYTHON=sys.executable, **env), timeout=600)
    assert done.returncode == 0, done.stderr
    [folder] = tmp_path.iterdir()
    entry = next(iter(read_manifest(folder).values()))
    assert entry["settings"]["max_new_tokens"] == 8
    assert json.loads(next((folder / "answers").glob("*.json")).read_text())[0]["completion_tokens"] <= 8


# ---------------------------------------------------------------- SIGTERM

def start(tmp_path, *extra):
    args = [sys.executable, "-m", "evaluation.eval", "--dataset", "synthetic", "--count", "4", "--batch_size", "1",
            "--max_new_tokens", "24", "--results_dir", str(tmp_path), "--no_progress", *extra]
    return subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, process, what: str) -> None:
    deadline = time.time() + 300
    while time.time() < deadline:
        if predicate():
            return
        assert process.poll() is None, process.communicate()[1]
        time.sleep(0.1)
    raise AssertionError(f"never saw {what}")


def test_sigterm_keeps_what_finished_like_ctrl_c(tmp_path, smollm2_path):
    process = start(tmp_path)
    journal = lambda: next(tmp_path.glob("*/answers/*.jsonl"), None)  # noqa: E731
    wait_for(lambda: journal() is not None and len(journal().read_text().splitlines()) >= 2, process, "a finished problem")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "problems are saved in" in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1
    [folder] = tmp_path.iterdir()
    entry = next(iter(read_manifest(folder).values()))
    assert entry["status"] == "interrupted" and entry["invocations"][-1]["ended"] == "interrupted"

    loading = tmp_path / "loading"
    process = start(loading)
    wait_for(lambda: any(loading.glob("*/log/*.log")), process, "the run's start")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "nothing to keep" in stderr and len(stderr.strip().splitlines()) == 1
    assert not any(loading.iterdir()), "a run stopped before any problem finished leaves no folder"
