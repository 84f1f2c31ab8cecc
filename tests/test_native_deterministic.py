"""The native engine's deterministic mode on the CPU (torch path): a request gets the same bits whatever
else runs beside it.

Token equality alone is a weak check in fp32 (a last-bit difference rarely flips an argmax within a few
tokens), so these tests also compare the request's KV cache blocks bit for bit: every layer's K and V of
every full block of prompt + output, found in the prefix cache by their token hashes. Without the mode the
same comparison differs (MKL's fp32 products sum by the row count); `docs/backends.md` has the table.
The GPU code path of the same mode is checked under Triton's interpreter (test_triton_deterministic.py).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from matheval.engines.base import EngineOptions, Sampling
from matheval.engines.chat import encode_prompt
from matheval.engines.native import NativeEngine
from matheval.engines.native.block_manager import block_hash
from matheval.engines.native.invariant import blocked_linear

torch.set_num_threads(2)

GREEDY = Sampling(max_tokens=12)
SAMPLED = Sampling(max_tokens=12, temperature=0.8, top_p=0.9, seed=7)
LONGER = 40  # tokens per sequence in the short cache: enough growth to preempt


def cached_blocks(engine, token_ids: list[int]) -> dict[int, torch.Tensor]:
    """hash -> K and V (all layers) of each full block of `token_ids` still in the prefix cache."""
    blocks, cache = engine.core.blocks, engine.core.runner.cache
    found, previous = {}, None
    for start in range(0, len(token_ids) - blocks.block_size + 1, blocks.block_size):
        previous = block_hash(previous, token_ids[start : start + blocks.block_size])
        block = blocks.by_hash.get(previous)
        if block is not None:
            found[previous] = torch.stack([cache.k[:, block], cache.v[:, block]]).clone()
    return found


def same_bits(first: dict, second: dict) -> int:
    """Blocks both caches still hold must be identical; returns how many were compared."""
    common = first.keys() & second.keys()
    for key in common:
        assert torch.equal(first[key], second[key])
    return len(common)


def run_compositions(path: str, dtype: str, prompts: list[list[int]], suffix: list[int], extra: dict | None = None,
                     small_cache: int | None = None, prepare=None):
    """Request A (greedy) and B (seeded) alone, then A's conversation continued (its prompt repeats A's
    prompt and output: prefix-cache hits on blocks A prefilled and decoded); then, in a fresh engine, all
    of them at once with others; last (`small_cache` blocks) with sequences preempted and recomputed.
    `prepare(engine)` is applied to the later engines (e.g. graph buckets on the Triton path)."""
    a, b, c = prompts
    base = {"deterministic": True, "num_kv_blocks": 256, "max_num_seqs": 8, **(extra or {})}
    with NativeEngine(path, EngineOptions(dtype=dtype, extra=base)) as alone:
        out_a = alone.generate_many([(a, GREEDY)])[0].token_ids[0]
        out_b = alone.generate_many([(b, SAMPLED)])[0].token_ids[0]
        follow = a + out_a + suffix
        before = alone.native_stats()["prefix_hit_tokens"]
        out_f = alone.generate_many([(follow, GREEDY)])[0].token_ids[0]
        hits = alone.native_stats()["prefix_hit_tokens"] - before
        assert hits >= len(a) + len(out_a) - 16  # A's decoded blocks were reused, not recomputed
        kv_alone = cached_blocks(alone, follow + out_f)
    with NativeEngine(path, EngineOptions(dtype=dtype, extra={**base, "decode_steps": 3})) as crowd:
        if prepare:
            prepare(crowd)
        outs = crowd.generate_many([(c, Sampling(max_tokens=9, temperature=1.0, seed=3, n=2)), (follow, GREEDY),
                                    (b, SAMPLED), (a, GREEDY), (c, GREEDY)])  # fmt: skip
        assert [outs[3].token_ids[0], outs[2].token_ids[0], outs[1].token_ids[0]] == [out_a, out_b, out_f]
        assert same_bits(kv_alone, cached_blocks(crowd, follow + out_f)) >= len(follow) // 16
    if small_cache is None:
        return
    with NativeEngine(path, EngineOptions(dtype=dtype, extra={**base, "num_kv_blocks": small_cache})) as small:
        if prepare:
            prepare(small)
        # longer outputs than above: the scheduler keeps a reserve for growth, so only sequences that keep
        # growing past it are preempted; their first 12 tokens must be the ones drawn alone
        longer = [replace(sampling, max_tokens=LONGER) for sampling in (GREEDY, GREEDY, SAMPLED, GREEDY)]
        outs = small.generate_many(list(zip([follow, c, b, a], longer)))
        assert small.native_stats()["preemptions"] > 0
        firsts = [outs[i].token_ids[0][:len(out)] for i, out in ((3, out_a), (2, out_b), (0, out_f))]
        assert firsts == [out_a, out_b, out_f]
        same_bits(kv_alone, cached_blocks(small, follow + out_f))


QUESTIONS = ["What is 12*7? Answer briefly.", "Solve for x: 3x + 5 = 20.",
             "A rectangle has length 8 and width 3. What is its area?"]  # fmt: skip


def test_smollm2_fp32_same_bits_alone_in_a_crowd_and_from_the_cache(smollm2_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_path)
    prompts = [encode_prompt(tokenizer, [{"role": "user", "content": q}]) for q in QUESTIONS]
    suffix = tokenizer("\nCheck that answer once more.", add_special_tokens=False)["input_ids"]
    run_compositions(smollm2_path, "float32", prompts, suffix)


TINY_LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 96, "intermediate_size": 192,
              "num_hidden_layers": 2, "num_attention_heads": 6, "num_key_value_heads": 2, "vocab_size": 400,
              "max_position_embeddings": 1024, "rms_norm_eps": 1e-5, "tie_word_embeddings": True}  # fmt: skip


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_same_bits_on_a_tiny_random_model_also_preempted(tmp_path, dtype):
    """bf16 too (torch on the CPU allows it; slow on the real model): the same compositions on random weights,
    and a cache of 12 blocks that admits the four requests but cannot let them all grow: preemption."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps(TINY_LLAMA))
    prompts = [list(range(5, 60)), list(range(100, 131)), list(range(200, 247))]
    run_compositions(str(config), dtype, prompts, list(range(300, 310)), {"load_format": "dummy", "ignore_eos": True},
                     small_cache=12)


def test_blocked_linear_rows_do_not_depend_on_their_neighbours():
    torch.manual_seed(0)
    weight, bias = torch.randn(200, 96), torch.randn(200)
    rows = torch.randn(50, 96)
    alone = blocked_linear(rows[7:8], weight, bias)
    for batch in (rows, rows[3:], torch.cat([rows[20:], rows[7:8]])):
        index = next(i for i in range(len(batch)) if torch.equal(batch[i], rows[7]))
        assert torch.equal(blocked_linear(batch, weight, bias)[index], alone[0])
    torch.testing.assert_close(blocked_linear(rows, weight, bias), torch.nn.functional.linear(rows, weight, bias))


def test_deterministic_option_reaches_the_engine():
    from matheval.engines.native.config import EngineConfig

    assert EngineConfig.from_options(EngineOptions(extra={"deterministic": "true"})).deterministic  # as from the CLI
    assert not EngineConfig.from_options(EngineOptions()).deterministic


def test_the_deterministic_flag_reaches_the_native_engine_only():
    from matheval.cli import build_parser, eval_config
    from matheval.errors import UserError

    parser = build_parser()
    args = parser.parse_args(["eval", "--inference_backend", "native", "--deterministic"])
    assert eval_config(args).engine_extra["deterministic"] is True
    assert "deterministic" not in eval_config(parser.parse_args(["eval", "--inference_backend", "native"])).engine_extra
    with pytest.raises(UserError, match="dtype float32"):
        eval_config(parser.parse_args(["eval", "--deterministic"]))  # the default backend, transformers
