"""Out-of-memory safety and --batch_size auto for the transformers backend.

A CPU cannot run out of GPU memory, so the fault is injected: the real model's `generate` (or its
forward pass, for the probe) raises torch.OutOfMemoryError when given more rows than a pretend GPU
holds. Everything else is the real backend on the real model.
"""

from __future__ import annotations

import json

import pytest
import torch

from matheval.engines.transformers_engine import static_batch_size
from matheval.engines.base import EngineOptions, Request, Sampling
from matheval.engines.memory import CPU_BATCH, cpu_batch_size, kv_bytes_per_token, probe_batch_size
from matheval.errors import UserError


def gsm8k_messages(data_dir, count):
    with open(data_dir / "gsm8k" / "test.jsonl") as handle:
        questions = [json.loads(line)["question"] for line, _ in zip(handle, range(count))]
    return [[{"role": "user", "content": q}] for q in questions]


@pytest.fixture
def pretend_gpu(transformers_backend, monkeypatch):
    """generate() fails with OOM for batches above `limit["rows"]` from call `limit["from_call"]` on
    (memory that fills up during a run); records the rows of every call."""
    real_generate = transformers_backend.model.generate
    limit = {"rows": 2, "from_call": 0, "seen": []}

    def generate(*args, **kwargs):
        rows = kwargs["input_ids"].shape[0]
        limit["seen"].append(rows)
        if rows > limit["rows"] and len(limit["seen"]) > limit["from_call"]:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(transformers_backend.model, "generate", generate)
    yield limit
    transformers_backend.max_rows = None


def test_oom_halves_the_batch_keeps_finished_work_and_changes_nothing(transformers_backend, pretend_gpu, data_dir):
    messages = gsm8k_messages(data_dir, 4)
    requests = [Request(m, Sampling(max_tokens=6, temperature=0.9 if i % 2 else 0.0, seed=100 + i))
                for i, m in enumerate(messages)]
    pretend_gpu["rows"] = 1000
    clean = transformers_backend.generate_batch(requests, batch_size=2)
    pretend_gpu.update(rows=1, from_call=1, seen=[])  # the first chunk of 2 fits, the second does not
    before = transformers_backend.stats.oom_retries
    faulted = transformers_backend.generate_batch(requests, batch_size=2)
    assert [c.texts for c in faulted] == [c.texts for c in clean]
    assert [c.completion_tokens for c in faulted] == [c.completion_tokens for c in clean]
    assert pretend_gpu["seen"] == [2, 2, 1, 1], "finished chunk kept; the failed one retried in halves"
    assert transformers_backend.max_rows == 1 and transformers_backend.stats.oom_retries - before == 1


def test_oom_with_one_row_is_a_one_line_user_error(transformers_backend, pretend_gpu, data_dir):
    pretend_gpu["rows"] = 0
    with pytest.raises(UserError, match="single sequence"):
        transformers_backend.generate_batch([Request(gsm8k_messages(data_dir, 1)[0], Sampling(max_tokens=4))], 2)


def test_probe_finds_the_largest_batch_that_fits(transformers_backend, monkeypatch):
    """The real probe (StaticCache + prompt pass on the real model), on a pretend GPU of 4 rows."""
    model = transformers_backend.model
    real_forward = model.forward

    def forward(*args, **kwargs):
        if kwargs["input_ids"].shape[0] > 4:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", forward)
    assert probe_batch_size(model, tokens=24, prompt_tokens=8, cap=64) == 4
    assert probe_batch_size(model, tokens=24, prompt_tokens=8, cap=2) == 2


def test_auto_on_cpu_chooses_from_memory(transformers_backend, capsys):
    config, dtype = transformers_backend.model.config, transformers_backend.dtype
    per_row = kv_bytes_per_token(config, dtype) * 2048
    assert kv_bytes_per_token(config, dtype) == 2 * 30 * 3 * 64 * 4  # SmolLM2-135M: 30 layers, 3 KV heads of 64
    assert cpu_batch_size(config, dtype, 2048, available=64 * 2**30) == CPU_BATCH
    assert cpu_batch_size(config, dtype, 2048, available=per_row * 4 * 5) == 5
    assert cpu_batch_size(config, dtype, 2048, available=1) == 1
    chosen = static_batch_size(transformers_backend, EngineOptions(batch_size="auto", max_new_tokens=64))
    assert 1 <= chosen <= CPU_BATCH and f"--batch_size auto -> {chosen}" in capsys.readouterr().err
