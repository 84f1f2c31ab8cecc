"""The engine layer's shared pieces, once for every backend: the EOS set, stop strings, the backend table,
the validated generation record and the Python API the CLI runs through."""

from __future__ import annotations

import subprocess
import sys

import pytest

import matheval
from conftest import REPO
from matheval.engines import BACKENDS, EngineOptions, Sampling, ignored_options
from matheval.engines.stopping import (cut_at_stop, declared_in_folder, eos_token_ids, finish_tokens,
                                       tail_has_stop)
from matheval.errors import UserError
from matheval.generation import GenerationSettings


@pytest.fixture(scope="module")
def tokenizer(smollm2_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_path)


def test_every_local_backend_ends_a_turn_at_the_same_tokens(transformers_backend, smollm2_path, tokenizer):
    """The transformers model's view (config + generation config + tokenizer) and the checkpoint folder's
    (what the native engine reads) give one EOS set."""
    from matheval.engines.hf_loading import model_eos_ids

    from_folder = eos_token_ids(*declared_in_folder(smollm2_path), tokenizer=tokenizer)
    assert model_eos_ids(transformers_backend.model, transformers_backend.tokenizer) == from_folder
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in from_folder
    assert eos_token_ids(2, [2, 7], None) == {2, 7}


def test_stop_strings_cut_text_and_tokens_alike(tokenizer):
    ids = tokenizer("Step 1: add.\n\nStep 2: done", add_special_tokens=False)["input_ids"]
    text, tokens, reason = finish_tokens(tokenizer, frozenset(), ids, Sampling(max_tokens=100, stop=("\n\n",)))
    assert (text, reason) == ("Step 1: add.", "stop")
    assert tokenizer.decode(ids[:tokens - 1]) == "Step 1: add."  # and the token where the stop string starts
    assert tail_has_stop(tokenizer, ids, ("Step 2",)) and not tail_has_stop(tokenizer, ids, ("Step 3",))
    assert finish_tokens(tokenizer, frozenset(), ids, Sampling(max_tokens=3))[2] == "length"
    eos = ids[2]
    assert finish_tokens(tokenizer, frozenset({eos}), ids, Sampling(max_tokens=100))[1:] == (3, "stop")
    assert cut_at_stop("a\n\nb```c", ("```", "\n\n")) == "a" and cut_at_stop("abc", ("x",)) is None


def test_the_http_backend_needs_neither_torch_nor_transformers():
    """openai's backend shares stop handling with the others without importing the model libraries."""
    code = ("import sys, matheval.engines.openai_engine, matheval.engines.registry; "
            "print(any(m in sys.modules for m in ('torch', 'transformers')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_backends_are_a_table_of_modules_with_create():
    import importlib

    assert list(BACKENDS) == ["transformers", "continuous", "native", "vllm", "openai"]
    for backend in BACKENDS.values():
        if backend.name != "vllm":  # vllm's module imports fine, the package only on use
            assert callable(importlib.import_module(f"matheval.engines.{backend.module}").create)
    with pytest.raises(UserError, match="unknown --inference_backend 'vlm': use one of transformers, continuous"):
        matheval.engines.create_engine("vlm", None, EngineOptions())


def test_options_a_backend_does_not_read_are_named():
    assert ignored_options("native", EngineOptions(batch_size=64)) == ["--batch_size is not used by the native backend"]
    assert ignored_options("transformers", EngineOptions(batch_size=64, extra={"base_url": "http://x/v1"})) == [
        "--base_url is not used by the transformers backend"]
    assert ignored_options("openai", EngineOptions(device="cuda")) == ["--device is not used by the openai backend"]
    assert ignored_options("transformers", EngineOptions()) == []


def test_generation_settings_are_checked_once_with_the_flag_named():
    with pytest.raises(UserError, match="--top_p must be in"):
        GenerationSettings(top_p=0)
    with pytest.raises(UserError, match="--max_new_tokens must be a positive integer"):
        GenerationSettings(max_new_tokens=0)
    settings = GenerationSettings(max_new_tokens=64, temperature=0.2)
    assert settings.sampling() == Sampling(max_tokens=64, temperature=0.2, top_p=1.0)
    assert settings.sampling(diverse=True) == Sampling(max_tokens=64, temperature=0.7, top_p=0.95)
    with pytest.raises(UserError, match="sampling needs n >= 1"):
        Sampling(n=0)
    with pytest.raises(UserError, match="--batch_size must be a positive integer or 'auto'"):
        EngineOptions(batch_size=0)


def test_the_python_api_runs_what_the_cli_runs(tmp_path):
    """`matheval.evaluate` writes the folder; the same settings on the command line resume it and find
    nothing left to do (same identity), with the same accuracy."""
    outcome = matheval.evaluate("smollm2-135m", "synthetic", count=2, batch_size=2, max_new_tokens=16,
                                results_dir=str(tmp_path), round="api", device="cpu", progress=False)
    assert len(outcome.records) == 2 and outcome.metrics["count"] == 2
    assert outcome.folder.is_dir() and outcome.records[0]["response"]
    cli = subprocess.run([sys.executable, "-m", "evaluation.eval", "--dataset", "synthetic", "--count", "2",
                          "--batch_size", "2", "--max_new_tokens", "16", "--results_dir", str(tmp_path),
                          "--round", "api", "--device", "cpu", "--no_progress"],
                         cwd=REPO, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert "2/2 problems already done" in cli.stderr
    assert f"accuracy {outcome.summary.accuracy:.2%}" in cli.stdout
