"""`matheval check` / `python -m models.check_vllm` on this machine, and its recommendation logic."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO
from matheval.check import Report, recommend


def test_check_vllm_reports_this_machine_and_exits_1_without_vllm():
    done = subprocess.run([sys.executable, "-m", "models.check_vllm"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    assert done.returncode == 1, done.stdout + done.stderr
    assert "torch" in lines and "not usable" in lines["vllm"] and "pip install" in lines["vllm"]
    assert "active:" in lines["sandbox"] and "seccomp" in lines["sandbox"]
    assert "--inference_backend transformers --batch_size auto" in lines["recommended"]  # as docs/backends.md says


def test_matheval_check_is_the_same_command(capsys):
    from matheval.cli import main

    assert main(["check"]) == 1
    assert "recommended" in capsys.readouterr().out


def test_recommendation_follows_the_hardware():
    assert Report(vllm="0.11.0", gpus=[("NVIDIA H100", 79.6)]).vllm_usable
    assert "--inference_backend vllm" in recommend(Report(vllm="0.11.0", gpus=[("NVIDIA H100", 79.6)]))
    gpu_only = Report(gpus=[("NVIDIA A10", 22.0)])
    assert not gpu_only.vllm_usable and "--batch_size auto" in recommend(gpu_only)
    assert not Report(vllm="0.11.0").vllm_usable  # installed, but no GPU to run it
