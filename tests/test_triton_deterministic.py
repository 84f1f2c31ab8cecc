"""The deterministic mode's GPU kernels under Triton's interpreter on the CPU: a row's bits must not depend
on the batch (matrix products), nor on how its context was computed (attention: decode, prefill, a cached
prefix, a split between programs); then a whole engine on the GPU code path, compared bit for bit across
batch compositions, prefix-cache hits, preemption, and graph buckets against eager.

The interpreter's tl.dot is replaced by a fixed-order sum (triton_interpret), as the GPU's matrix
instructions compute each row alone; the interpreter cannot show the compiled GPU's own bits, which
`matheval bench --workload identity` measures (benchmarks/run_determinism_gpu.sh).
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("triton")

from matheval.engines.native import triton_interpret  # noqa: E402
from matheval.engines.native.attention import AttentionMetadata, KVCache, TorchAttention  # noqa: E402
from matheval.engines.native.model_runner import rerun_capture  # noqa: E402


@pytest.fixture(scope="module")
def kernels():
    triton_interpret.enable()
    from matheval.engines.native import triton_gemm, triton_kernels, triton_unified

    return triton_gemm, triton_unified, triton_kernels


@pytest.fixture
def short_chunks(kernels, monkeypatch):
    """16-token tiles, 32-token chunks, so that contexts of a few dozen tokens span several chunks."""
    unified = kernels[1]
    monkeypatch.setitem(unified.CONFIG, "BLOCK_N", 16)
    monkeypatch.setattr(unified, "CHUNK_TILES", 2)
    return unified


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_gemm_rows_do_not_depend_on_the_batch(kernels, dtype):
    gemm = kernels[0]
    torch.manual_seed(0)
    weight, bias = (torch.randn(96, 80) * 0.1).to(dtype), torch.randn(96).to(dtype)  # K = 80: a partial K tile
    rows = torch.randn(140, 80).to(dtype)
    alone = gemm.linear(rows[3:4], weight, bias)[0]
    for batch, at in ((rows, 3), (rows[3:], 0), (torch.cat([rows[50:], rows[3:4]]), 90)):  # other tiles, places
        assert torch.equal(gemm.linear(batch, weight, bias)[at], alone)
    want = F.linear(rows.double(), weight.double(), bias.double())
    got = gemm.linear(rows, weight, bias).double()
    assert ((got - want).norm() / want.norm()).item() < (1e-6 if dtype == torch.float32 else 1e-2)
    assert torch.equal(gemm.linear(rows, weight)[:5], gemm.linear(rows[:5], weight))  # no bias


def test_gemm_config_belongs_to_the_weight_shape(kernels):
    gemm = kernels[0]
    assert gemm.launch_settings(1536, 8960, 2)[0] == gemm.config_for(1536, 8960)
    assert gemm.launch_settings(1536, 8960, 4)[1]["num_stages"] <= gemm.launch_settings(1536, 8960, 2)[1]["num_stages"]
    gemm.CONFIGS[(96, 80)] = gemm.GemmConfig(block_m=32, block_n=32, block_k=32)
    try:
        assert gemm.config_for(96, 80).block_k == 32
    finally:
        del gemm.CONFIGS[(96, 80)]


def _cache(dtype, heads=6, kv_heads=2, dim=32, block_size=4, blocks=48):
    torch.manual_seed(1)
    cache = KVCache(1, blocks, block_size, kv_heads, dim, dtype, "cpu")
    cache.k.normal_()
    cache.v.normal_()
    reference = TorchAttention(heads, kv_heads, dim)
    reference.cache = cache
    tables = torch.stack([torch.randperm(blocks)[:24] for _ in range(3)]).int()
    return cache, reference, tables


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_attention_of_a_position_is_the_same_however_its_context_came(short_chunks, dtype):
    """Decode at any split, prefill whole, prefill after a cached prefix (a chunk boundary mid-block): the
    same bits for the same query position; and SDPA's values."""
    unified, (heads, dim) = short_chunks, (6, 32)
    cache, reference, tables = _cache(dtype)
    scale, total = dim**-0.5, 70
    q = torch.randn(total, heads, dim).to(dtype)
    whole = torch.empty_like(q)
    unified.paged_prefill(q, cache.k[0], cache.v[0], whole, tables[:1], torch.tensor([total]),
                          torch.tensor([0, total], dtype=torch.int32), total, scale)  # fmt: skip
    meta = AttentionMetadata(is_prefill=True, slot_mapping=None, context_lens=torch.tensor([total]),
                             block_tables=tables[:1], cu_query_lens=torch.tensor([0, total], dtype=torch.int32),
                             max_query_len=total, query_lens_cpu=[total], context_lens_cpu=[total])  # fmt: skip
    want = reference(0, q, meta).double()
    assert ((whole.double() - want).norm() / want.norm()).item() < (1e-6 if dtype == torch.float32 else 1e-2)
    tail = torch.empty_like(q[37:])
    unified.paged_prefill(q[37:], cache.k[0], cache.v[0], tail, tables[:1], torch.tensor([total]),
                          torch.tensor([0, total - 37], dtype=torch.int32), total - 37, scale)  # fmt: skip
    assert torch.equal(tail, whole[37:])
    positions = [0, 15, 16, 17, 40, 69]
    for splits in (1, 3, 16):  # in a batch with two other sequences
        contexts = torch.tensor([p + 1 for p in positions] + [9, 1])
        batch_tables = torch.cat([tables[:1].expand(len(positions), -1), tables[1:]])
        out = torch.empty(len(contexts), heads, dim, dtype=dtype)
        queries = torch.cat([q[positions], torch.randn(2, heads, dim).to(dtype)])
        unified.paged_decode(queries, cache.k[0], cache.v[0], out, batch_tables, contexts, scale, splits)
        assert torch.equal(out[: len(positions)], whole[positions]), splits


def test_the_default_kernels_are_not_invariant(kernels, monkeypatch):
    """The control: the default decode kernel splits a context by the batch, which changes the bits (so the
    comparisons above can fail)."""
    default = kernels[2]
    monkeypatch.setattr(default, "DECODE_MIN_SPLIT_TILES", 1)
    monkeypatch.setitem(default.DECODE_CONFIG, "BLOCK_N", 16)
    cache, _, tables = _cache(torch.float32)
    q, contexts = torch.randn(3, 6, 32), torch.tensor([70, 33, 50])
    outs = []
    for splits in (1, 4):
        out = torch.empty_like(q)
        default.paged_decode(q, cache.k[0], cache.v[0], out, tables, contexts, 32**-0.5, splits)
        outs.append(out)
    assert not torch.equal(outs[0], outs[1])
    torch.testing.assert_close(outs[0], outs[1])


TINY_QWEN2 = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 512,
              "max_position_embeddings": 1024, "rms_norm_eps": 1e-6, "rope_theta": 1e6, "tie_word_embeddings": True}  # fmt: skip


@pytest.mark.parametrize("dtype", ["float32"])
def test_engine_on_the_gpu_code_path_gives_the_same_bits_in_any_company(short_chunks, tmp_path, dtype):
    """Qwen2 (q/k/v biases) on the Triton path, in fp32, where no bf16 rounding hides a last-bit difference
    (bf16 runs the same kernels: the kernel tests above cover both). Alone, eager: request A, then A's conversation
    continued (prefix-cache hits on the blocks A prefilled and decoded). Then a fresh engine with graph
    buckets (re-run for replay) and decode contexts split between programs (4 'multiprocessors'): the
    continuation, A and another request at once. Same tokens, same K/V bits. (Preemption recomputes
    positions by prefill, which the attention test above equates with decode; the CPU path's engine test
    preempts.)"""
    from test_native_deterministic import cached_blocks, same_bits

    from matheval.engines.base import EngineOptions, Sampling
    from matheval.engines.native import NativeEngine

    config = tmp_path / "config.json"
    config.write_text(json.dumps(TINY_QWEN2))
    extra = {"load_format": "dummy", "ignore_eos": True, "attention_backend": "triton", "deterministic": True,
             "num_kv_blocks": 64, "max_num_seqs": 4, "decode_steps": 2}  # fmt: skip
    greedy, sampled = Sampling(max_tokens=6), Sampling(max_tokens=4, temperature=0.8, seed=3)
    a, b = list(range(5, 32)), list(range(100, 121))  # A's 2nd block: 11 prompt tokens, 5 decoded
    with NativeEngine(str(config), EngineOptions(dtype=dtype, extra=extra)) as alone:
        assert alone.core.runner.model.norm.fused and alone.core.runner.attention.deterministic
        out_a = alone.generate_many([(a, greedy)])[0].token_ids[0]
        follow = a + out_a + [300, 301, 302]
        out_f = alone.generate_many([(follow, sampled)])[0].token_ids[0]
        assert alone.native_stats()["prefix_hit_tokens"] == 32  # the crowd below prefills those blocks
        kv_alone = cached_blocks(alone, follow + out_f)
    with NativeEngine(str(config), EngineOptions(dtype=dtype, extra=extra)) as crowd:
        crowd.core.runner.attention.multiprocessors = 4  # 2-3 sequences x 2 KV heads: split in 2
        crowd.core.runner._capture_graphs(capture=rerun_capture)
        outs = crowd.generate_many([(b, greedy), (follow, sampled), (a, greedy)])
        assert [outs[2].token_ids[0], outs[1].token_ids[0]] == [out_a, out_f]
        assert same_bits(kv_alone, cached_blocks(crowd, follow + out_f)) == (len(follow + out_f) - 1) // 16
