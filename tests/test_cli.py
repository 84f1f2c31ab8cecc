"""The seed's command line end to end on the real model, and every kind of bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from conftest import REPO
from matheval.results import CSV_COLUMNS


def run_cli(*args, module="evaluation.eval", timeout=600):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def test_seed_command_writes_the_seed_layout_on_local_gsm8k(tmp_path, data_dir, smollm2_path):
    result = run_cli("--model", "smollm2-135m", "--round", "cli", "--dataset", "gsm8k", "--data_dir", str(data_dir),
                     "--count", "3", "--mode", "standard", "--detailed", "false", "--batch_size", "3",
                     "--inference_backend", "transformers", "--max_new_tokens", "40", "--results_dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    [folder] = tmp_path.iterdir()
    assert folder.name.startswith("cli_smollm2-135m_gsm8k_3_") and len(folder.name.split("_")[-1]) == 4
    answers = json.loads((folder / "answers" / "smollm2-135m_gsm8k_standard_answers.json").read_text())
    assert [a["id"] for a in answers] == ["gsm8k-0", "gsm8k-1", "gsm8k-2"]
    assert answers[0]["gold"] == "18"  # Janet's ducks
    for answer in answers:
        assert answer["response"] and answer["completion_tokens"] > 0 and answer["seconds"] > 0
        assert set(answer) >= {"question", "gold", "response", "extracted", "correct", "tokens", "seconds"}
    with open(folder / "metrics.csv") as handle:
        [row] = list(csv.DictReader(handle))
    assert list(row) == CSV_COLUMNS
    assert int(row["correct"]) == sum(a["correct"] for a in answers)
    assert float(row["accuracy"]) == pytest.approx(sum(a["correct"] for a in answers) / 3, abs=1e-6)
    assert row["backend"] == "transformers" and row["batch_size"] == "3" and float(row["tokens_per_second"]) > 0
    assert (folder / "log" / "smollm2-135m_gsm8k_standard.log").read_text().count("gsm8k-") == 3
    assert "Accuracy:" in (folder / "metrics_standard.txt").read_text()
    assert "accuracy" in result.stdout and str(folder) in result.stdout


def test_matheval_eval_is_the_same_command_and_detailed_streams(tmp_path, smollm2_path):
    result = run_cli("eval", "--dataset", "synthetic", "--count", "1", "--detailed", "true",
                     "--max_new_tokens", "12", "--results_dir", str(tmp_path), module="matheval")
    assert result.returncode == 0, result.stderr
    [answers_file] = tmp_path.glob("*/answers/*_answers.json")
    [answer] = json.loads(answers_file.read_text())
    assert answer["question"] in result.stdout
    assert answer["response"].strip()[:20] in result.stdout  # streamed as it was generated
    # the same round with another setting would mix two experiments in one file: refused in one line that
    # names the flag as the user typed it
    other = run_cli("eval", "--dataset", "synthetic", "--count", "1", "--max_new_tokens", "16",
                    "--results_dir", str(tmp_path), module="matheval")
    assert other.returncode == 2 and "(--max_new_tokens 12 -> 16)" in other.stderr, other.stderr
    assert len(other.stderr.strip().splitlines()) == 1


def test_fewshot_and_direct_modes_run(tmp_path, smollm2_path):
    from conftest import tiny_eval

    prompt_tokens = {}
    for mode in ("fewshot", "direct"):
        outcome = tiny_eval(tmp_path, mode=mode, count=2, max_tokens=16)
        assert outcome.summary.count == 2 and outcome.paths.metrics_txt.name == f"metrics_{mode}.txt"
        prompt_tokens[mode] = json.loads(outcome.paths.answers.read_text())[0]["prompt_tokens"]
    assert prompt_tokens["fewshot"] > 2 * prompt_tokens["direct"]  # the worked examples are in the prompt


BAD_INPUTS = [
    (["--model", "no-such-model"], "unknown model 'no-such-model'"),
    (["--dataset", "no-such-set"], "unknown dataset"),
    (["--mode", "telepathy"], "unknown --mode 'telepathy'"),
    (["--inference_backend", "warp"], "unknown --inference_backend 'warp'"),
    (["--count", "501", "--dataset", "math500"], "has 500 problems"),
    (["--batch_size", "zero"], "--batch_size"),
    (["--no-such-flag"], "unrecognized arguments"),
    (["--detailed", "maybe"], "expected true or false"),
]


@pytest.mark.parametrize("args,message", BAD_INPUTS)
def test_bad_input_is_one_line_exit_two_and_writes_nothing(tmp_path, data_dir, args, message):
    result = run_cli(*args, "--data_dir", str(data_dir), "--results_dir", str(tmp_path / "results"))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_malformed_jsonl_names_file_and_line(tmp_path):
    good = json.dumps({"question": "1+1?", "answer": "so #### 2"})
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "test.jsonl").write_text(f"{good}\n{good}\n{{not json\n")
    result = run_cli("--dataset", "gsm8k", "--data_dir", str(tmp_path), "--results_dir", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "test.jsonl line 3" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unwritable_results_dir(tmp_path, smollm2_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run_cli("--count", "1", "--results_dir", str(blocker / "results"))
    assert result.returncode == 2
    assert "choose a writable --results_dir" in result.stderr and len(result.stderr.strip().splitlines()) == 1
