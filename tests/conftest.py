"""Shared fixtures: the real packaged model, loaded once, and the real benchmark files."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("MATHEVAL_DATA_DIR", str((REPO.parent / "shared" / "data").resolve()))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The native engine's Triton kernels run under Triton's interpreter here (tests/test_triton_kernels.py):
# Triton reads this once, when it is first imported, so it is set before any test module loads.
os.environ.setdefault("TRITON_INTERPRET", "1")
DATA_DIR = Path(os.environ["MATHEVAL_DATA_DIR"])


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "gsm8k" / "test.jsonl").exists():
        pytest.skip(f"benchmark files not found in {DATA_DIR}: set MATHEVAL_DATA_DIR")
    return DATA_DIR


@pytest.fixture(scope="session")
def smollm2_path() -> str:
    from matheval.models import resolve

    return resolve("smollm2-135m").path


@pytest.fixture(scope="session")
def transformers_backend(smollm2_path):
    import torch

    from matheval.engines.base import EngineOptions
    from matheval.engines.transformers_engine import TransformersBackend

    torch.set_num_threads(min(2, torch.get_num_threads()))
    backend = TransformersBackend(smollm2_path, EngineOptions(device="cpu"))
    yield backend
    backend.close()


def gsm8k_messages(data_dir, count):
    """The first `count` GSM8K test questions as chat requests (the engine tests' shared prompts)."""
    with open(data_dir / "gsm8k" / "test.jsonl") as handle:
        questions = [json.loads(line)["question"] for line, _ in zip(handle, range(count))]
    return [[{"role": "user", "content": q + "\nReason step by step; put the final answer in \\boxed{}."}]
            for q in questions]


def tiny_eval(results_dir, **overrides):
    """A real, small evaluation through the same function the CLI calls."""
    from matheval.evaluate import EvalConfig, run_eval

    settings = dict(round="t", dataset="synthetic", count=4, batch_size=4, results_dir=str(results_dir),
                    device="cpu", progress=False)
    max_tokens = overrides.pop("max_tokens", 48)
    settings.update(overrides)
    config = EvalConfig(**settings)
    config.params.generation = replace(config.params.generation, max_new_tokens=max_tokens)
    return run_eval(config)


@pytest.fixture(scope="session")
def synthetic_results(tmp_path_factory, smollm2_path):
    """A finished result folder of the real model on 4 synthetic problems (shared by read-only tests)."""
    return tiny_eval(tmp_path_factory.mktemp("results"))
