"""The native engine's start-up: the tokenizer class remembered on disk, the per-phase breakdown, and the
run log that shows it (real SmolLM2 tokenizer and weights on the CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from matheval.engines.base import EngineOptions, Sampling
from matheval.engines.chat import encode_prompt
from matheval.engines.native import NativeEngine
from matheval.engines import tokenizer_cache as startup  # the tokenizer-class record (every backend loads through it)

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "benchmarks" / "configs" / "tiny-qwen2.json"
MESSAGES = [[{"role": "user", "content": "What is 12*7? Answer briefly."}],
            [{"role": "system", "content": "Be careful."}, {"role": "user", "content": "Solve 3x + 5 = 20."},
             {"role": "assistant", "content": "Subtract 5:"}]]


@pytest.fixture
def cache(tmp_path, monkeypatch, smollm2_path):
    """A fresh matheval cache (the converted model is found first: it stays where it is)."""
    monkeypatch.setenv("MATHEVAL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def same_tokenizer(a, b) -> None:
    assert type(a) is type(b)
    for messages in MESSAGES:
        assert encode_prompt(a, messages) == encode_prompt(b, messages)
    ids = encode_prompt(a, MESSAGES[0]) + [a.eos_token_id]
    assert a.decode(ids, skip_special_tokens=True) == b.decode(ids, skip_special_tokens=True)
    assert (a.eos_token_id, a.pad_token_id, a.chat_template) == (b.eos_token_id, b.pad_token_id, b.chat_template)


def test_the_tokenizer_class_autotokenizer_chose_is_remembered(cache, monkeypatch, smollm2_path):
    from transformers import AutoTokenizer

    folder = Path(smollm2_path)
    first = startup.load_tokenizer(folder)
    same_tokenizer(first, AutoTokenizer.from_pretrained(str(folder)))
    record = json.loads((cache / "tokenizer_classes.json").read_text())
    assert list(record.values()) == [{"module": type(first).__module__, "name": type(first).__qualname__}]

    def refuse(*args, **kwargs):
        raise AssertionError("the second load must not go through AutoTokenizer")

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", refuse)
    same_tokenizer(startup.load_tokenizer(folder), first)


def test_a_stale_record_takes_the_long_way_and_is_replaced(cache, smollm2_path):
    folder = Path(smollm2_path)
    cache.mkdir(parents=True, exist_ok=True)
    key = startup.tokenizer_key(folder)
    (cache / "tokenizer_classes.json").write_text(json.dumps({key: {"module": "no_such_module", "name": "X"}}))
    tokenizer = startup.load_tokenizer(folder)
    assert json.loads((cache / "tokenizer_classes.json").read_text())[key]["name"] == type(tokenizer).__qualname__


def test_engine_breaks_its_start_up_down_and_times_the_first_steps():
    extra = {"load_format": "dummy", "num_kv_blocks": 32, "ignore_eos": True}
    with NativeEngine(str(TINY), EngineOptions(device="cpu", extra=extra)) as engine:
        before = engine.startup_report()
        assert before.startswith("native start-up: ") and "tokenizer " in before and "weights" in before and "kv_plan" in before
        assert "first_prefill" not in before
        engine.generate_many([(list(range(5, 40)), Sampling(max_tokens=5))])
        after = engine.startup_report()
        stats = engine.native_stats()
    assert "first_prefill" in after and "first_decode" in after
    assert stats["startup_weights_s"] >= 0 and stats["startup_first_decode_s"] > 0
    assert stats["max_num_seqs"] == 256  # on the CPU the limit stays at the default


def test_the_run_log_shows_the_start_up(tmp_path, data_dir):
    from matheval.api import evaluate

    outcome = evaluate(dataset="gsm8k", data_dir=str(data_dir), count=1, backend="native", device="cpu",
                       max_new_tokens=3, results_dir=str(tmp_path), progress=False)
    log = next(outcome.folder.glob("log/*.log")).read_text()
    lines = [line for line in log.splitlines() if "native start-up:" in line]
    assert len(lines) == 2, log
    assert "weights" in lines[0] and "first_prefill" not in lines[0]
    assert "first_prefill" in lines[1] and "first_decode" in lines[1]
    [whole] = [line for line in log.splitlines() if "process start-up:" in line]  # what the engine's phases leave out
    assert float(whole.split("process start-up: ")[1].split("s ")[0]) > 0
