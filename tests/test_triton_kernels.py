"""The native engine's GPU kernels, run on the CPU under Triton's interpreter, against the torch code the
CPU engine runs (which tests/test_native.py checks against transformers).

Element-wise kernels must round exactly where the torch reference rounds: in bf16, results may differ
only by the order of a sum (one bf16 step, rarely). The attention kernels must match SDPA over the same
paged cache. Last, a whole engine on the GPU code path (fused kernels, Triton attention, the CUDA-graph
bucket path with re-runs standing in for replays) must produce the torch engine's greedy tokens.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("triton")

from matheval.engines.native import triton_interpret  # noqa: E402
from matheval.engines.native.attention import AttentionMetadata, KVCache, TorchAttention  # noqa: E402
from matheval.engines.native.config import ModelConfig  # noqa: E402
from matheval.engines.native.model import RMSNorm, Rotary  # noqa: E402
from matheval.engines.native.model_runner import rerun_capture  # noqa: E402


@pytest.fixture(scope="module")
def kernels():
    triton_interpret.enable()
    from matheval.engines.native import triton_fused, triton_kernels

    return triton_fused, triton_kernels


@pytest.fixture(params=[16384, 2048], ids=["one-program-per-row", "rows-split-across-programs"])
def sampling(kernels, request, monkeypatch):
    """The sampling kernels with the default chunk (a few-thousand-token vocabulary: one program per row)
    and with 2048-token chunks (the same rows split across 2-3 programs, as a 152k vocabulary is)."""
    from matheval.engines.native import triton_sampling

    monkeypatch.setattr(triton_sampling, "SAMPLE_CHUNK", request.param)
    return triton_sampling


def _ulps_apart(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """How many representable values of the dtype lie between a and b (elementwise)."""
    assert a.dtype == b.dtype == torch.bfloat16
    ia, ib = a.view(torch.int16).int(), b.view(torch.int16).int()
    # map sign-magnitude to a monotone integer line
    ia = torch.where(ia < 0, -(ia & 0x7FFF), ia)
    ib = torch.where(ib < 0, -(ib & 0x7FFF), ib)
    return (ia - ib).abs()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_add_rms_norm_matches_the_torch_reference(kernels, dtype):
    fused, _ = kernels
    torch.manual_seed(0)
    x, residual = torch.randn(7, 96, dtype=dtype), torch.randn(7, 96, dtype=dtype)
    reference = RMSNorm(96, 1e-6).to(dtype)
    with torch.no_grad():
        reference.weight.copy_(torch.rand(96) + 0.5)
        want, want_sum = reference(x, residual.clone())
        want_plain, _ = reference(x)
    got_residual = residual.clone()
    got, got_sum = fused.add_rms_norm(x, reference.weight, 1e-6, got_residual)
    got_plain, same = fused.add_rms_norm(x, reference.weight, 1e-6)
    assert got_sum.data_ptr() == got_residual.data_ptr(), "the sum must be written into the residual in place"
    assert same is x
    assert torch.equal(got_sum, want_sum)  # one rounded add: exact
    if dtype == torch.float32:
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got_plain, want_plain, rtol=1e-5, atol=1e-6)
    else:
        for a, b in ((got, want), (got_plain, want_plain)):
            ulps = _ulps_apart(a, b)
            assert ulps.max() <= 1 and (ulps > 0).float().mean() < 0.02, ulps.max()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_silu_mul_matches_the_torch_reference(kernels, dtype):
    fused, _ = kernels
    torch.manual_seed(1)
    gate_up = (3 * torch.randn(5, 2 * 1100)).to(dtype)  # 1100: not a multiple of the kernel's block
    gate, up = gate_up.split(1100, dim=-1)
    want = F.silu(gate) * up
    got = fused.silu_mul(gate_up)
    if dtype == torch.float32:
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    else:
        assert _ulps_apart(got, want).max() <= 1


def _paged_setup(dtype, heads=6, kv_heads=2, dim=32, block_size=4, num_blocks=40):
    cache = KVCache(1, num_blocks, block_size, kv_heads, dim, dtype, "cpu")
    reference = TorchAttention(heads, kv_heads, dim)
    reference.cache = cache
    return cache, reference


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rope_store_matches_rotary_and_the_cache_write(kernels, dtype):
    fused, _ = kernels
    torch.manual_seed(2)
    heads, kv_heads, dim, tokens = 6, 2, 32, 9
    config = ModelConfig.from_dict({"architectures": ["Qwen2ForCausalLM"], "hidden_size": heads * dim, "intermediate_size": 64,
                                    "num_hidden_layers": 1, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
                                    "vocab_size": 32, "max_position_embeddings": 512, "rope_theta": 10000.0})  # fmt: skip
    rotary = Rotary(config, 512)
    rotary.fill("cpu")
    # q/k/v as views into one fused projection output, as the model makes them (rows strided, heads contiguous)
    qkv = torch.randn(tokens, (heads + 2 * kv_heads) * dim).to(dtype)
    positions = torch.randint(0, 500, (tokens,))
    slots = torch.randperm(40 * 4)[:tokens]
    meta = AttentionMetadata(is_prefill=True, slot_mapping=slots, context_lens=torch.ones(1), block_tables=torch.zeros(1, 1))

    def split(t):
        q, k, v = t.split([heads * dim, kv_heads * dim, kv_heads * dim], dim=-1)
        return q.view(tokens, heads, dim), k.view(tokens, kv_heads, dim), v.view(tokens, kv_heads, dim)

    ref_cache, reference = _paged_setup(dtype)
    want_q = reference.rope_and_store(0, rotary, positions, *split(qkv.clone()), meta)
    got_cache, _ = _paged_setup(dtype)
    got_qkv = qkv.clone()
    q, k, v = split(got_qkv)
    fused.rope_store(q, k, v, positions, rotary.cos, rotary.sin, got_cache.k[0], got_cache.v[0], slots)
    flat = lambda c: c[0].view(-1, kv_heads, dim)[slots]  # noqa: E731
    assert torch.equal(flat(got_cache.v), flat(ref_cache.v))
    if dtype == torch.float32:
        torch.testing.assert_close(q, want_q, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(flat(got_cache.k), flat(ref_cache.k), rtol=1e-5, atol=1e-6)
    else:  # every rounding step as transformers takes it: bit-identical
        assert torch.equal(q, want_q)
        assert torch.equal(flat(got_cache.k), flat(ref_cache.k))
    assert torch.equal(split(got_qkv)[1], split(qkv)[1]), "k in the projection output is left as it was"


def test_paged_attention_kernels_match_sdpa(kernels, monkeypatch):
    """Decode (one query per sequence, GQA) and prefill (after a cached prefix, causal) over a paged cache
    whose blocks are scattered and shared."""
    _, paged = kernels
    torch.manual_seed(3)
    heads, kv_heads, dim, bs = 6, 2, 32, 4
    cache, reference = _paged_setup(torch.float32, heads, kv_heads, dim, bs, num_blocks=40)
    cache.k.normal_()
    cache.v.normal_()
    tables = torch.stack([torch.randperm(40)[:10] for _ in range(3)]).int()
    tables[1, :3] = tables[0, :3]  # a shared prefix
    context = torch.tensor([37, 12, 1], dtype=torch.int32)
    q = torch.randn(3, heads, dim)
    meta = AttentionMetadata(is_prefill=False, slot_mapping=torch.zeros(3, dtype=torch.long), context_lens=context,
                             block_tables=tables)  # fmt: skip
    want = reference(0, q, meta)
    got = torch.empty_like(q)
    paged.paged_decode(q, cache.k[0], cache.v[0], got, tables, context, dim**-0.5)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    # contexts split between programs (flash-decoding), with 16-token tiles so that these short contexts
    # split at all: 37 tokens in 2 shares of 32 + 5, or 3 shares of 16 + 16 + 5 and an empty fourth
    monkeypatch.setattr(paged, "DECODE_MIN_SPLIT_TILES", 1)
    monkeypatch.setitem(paged.DECODE_CONFIG, "BLOCK_N", 16)
    for splits in (2, 4, 16):
        got = torch.empty_like(q)
        paged.paged_decode(q, cache.k[0], cache.v[0], got, tables, context, dim**-0.5, splits)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert [paged.decode_splits(n, 2, 132) for n in (256, 160, 80, 32, 8)] == [1, 1, 4, 16, 16]  # an H200's 132
    assert paged.decode_splits(4, 2, 0) == 1

    query_lens = [5, 12, 1]  # sequence 0: 32 cached tokens + 5 new; sequence 1: all new
    q = torch.randn(sum(query_lens), heads, dim)
    cu = torch.tensor([0, 5, 17, 18], dtype=torch.int32)
    meta = AttentionMetadata(is_prefill=True, slot_mapping=torch.zeros(18, dtype=torch.long), context_lens=context,
                             block_tables=tables, cu_query_lens=cu, max_query_len=12, query_lens_cpu=query_lens,
                             context_lens_cpu=context.tolist())  # fmt: skip
    want = reference(0, q, meta)
    got = torch.empty_like(q)
    paged.paged_prefill(q, cache.k[0], cache.v[0], got, tables, context, cu, 12, dim**-0.5)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


TINY_QWEN2 = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 512,
              "max_position_embeddings": 1024, "rms_norm_eps": 1e-6, "rope_theta": 1e6, "tie_word_embeddings": True}  # fmt: skip


def test_engine_on_the_gpu_code_path_matches_the_torch_engine(kernels, tmp_path, monkeypatch):
    """Fused kernels + Triton attention + padded graph buckets (re-run instead of replayed) vs the CPU engine,
    random weights, greedy and seeded sampling: prefix sharing (n=2), a cached prefix the second time,
    sequences ending mid-round, decode contexts split between programs (16-token shares)."""
    from matheval.engines.base import EngineOptions, Sampling
    from matheval.engines.native import NativeEngine

    config = tmp_path / "config.json"
    config.write_text(json.dumps(TINY_QWEN2))
    prompts = [list(range(3, 40)), list(range(100, 121)), list(range(200, 205))]
    items = [(p, Sampling(max_tokens=6 + 3 * i, n=2 if i == 1 else 1)) for i, p in enumerate(prompts)]
    items.append((prompts[0], Sampling(max_tokens=7, temperature=0.8, top_p=0.9, seed=5, n=2)))  # fused sampler

    results = {}
    for backend in ("torch", "triton"):
        extra = {"load_format": "dummy", "num_kv_blocks": 64, "max_num_seqs": 8, "attention_backend": backend,
                 "decode_steps": 3, "ignore_eos": True}  # fmt: skip
        with NativeEngine(str(config), EngineOptions(extra=extra)) as engine:
            if backend == "triton":
                assert engine.core.runner.model.norm.fused and engine.core.runner.sampler.fused
                engine.core.runner.attention.multiprocessors = 8  # batches of up to 5 split their contexts
                monkeypatch.setattr(kernels[1], "DECODE_MIN_SPLIT_TILES", 1)
                monkeypatch.setitem(kernels[1].DECODE_CONFIG, "BLOCK_N", 16)
                decode, used = kernels[1].paged_decode, set()
                monkeypatch.setattr(kernels[1], "paged_decode", lambda *a: used.add(a[-1]) or decode(*a))
                engine.core.runner._capture_graphs(capture=rerun_capture)
            first = [c.token_ids for c in engine.generate_many(items)]
            again = [c.token_ids for c in engine.generate_many(items[:2])]
            results[backend] = (first, again, engine.native_stats()["prefix_hit_blocks"])
    assert results["triton"] == results["torch"]
    assert results["triton"][2] > 0
    assert max(used) > 1


def _sampled_rows(seqs):
    from matheval.engines.native.sampler import Sampler

    return Sampler().rows(seqs, "cpu")


def _seq(i, temperature, top_p):
    from types import SimpleNamespace

    params = SimpleNamespace(temperature=temperature, top_p=top_p, top_k=0)
    return SimpleNamespace(greedy=False, params=params, key_a=(2**31 + 5 * i) % 2**32, key_b=99 * i, num_output_tokens=i)


def test_fused_sampler_draws_the_torch_samplers_tokens(sampling):
    """Sampled rows of a bf16 batch: the fused path (searched top-p edge, one noise + argmax kernel, the
    logits read in place) draws exactly the tokens of the torch path (fp32 copy, sort, noise, argmax), at
    several steps of a round, with greedy rows left alone."""
    from matheval.engines.native.sampler import Sampler

    assert sampling.chunking(5000)[1] == (1 if sampling.SAMPLE_CHUNK > 5000 else 3)
    torch.manual_seed(4)
    vocab = 5000  # not a multiple of the kernels' blocks
    logits = (torch.randn(7, vocab) * 3).bfloat16()
    seqs = [_seq(0, 0.7, 1.0), SimpleGreedy(), _seq(2, 1.0, 0.9), _seq(3, 0.5, 0.5), _seq(4, 1.3, 0.1),
            _seq(5, 0.7, 0.95), SimpleGreedy()]  # fmt: skip
    rows = _sampled_rows(seqs)
    for offset in (0, 1, 5):
        want = Sampler()(logits, rows, offset)
        got = Sampler(fused=True)(logits, rows, offset)
        assert torch.equal(got, want), offset
        assert torch.equal(got[[1, 6]], logits[[1, 6]].argmax(-1))
    # a row draws the same token alone as in its batch: nothing in the kernels depends on the batch
    alone = Sampler(fused=True)(logits[5:6], _sampled_rows([seqs[5]]), 1)
    assert torch.equal(alone, Sampler(fused=True)(logits, rows, 1)[5:6])


class SimpleGreedy:
    greedy = True


def test_top_p_search_finds_the_sorts_edge(sampling):
    """The GPU's sort-free nucleus edge equals the sort's on rows a sampler meets: near-uniform (random
    weights), peaked (a trained model), bf16 ties, negative and mixed-sign values, -inf tokens, all tied,
    and top_p from tiny to 1, at several temperatures."""
    from matheval.engines.native.sampler import top_p_threshold

    torch.manual_seed(7)
    vocab = 3001
    rows = [
        torch.randn(vocab) * 0.02,  # near-uniform: the nucleus is most of the vocabulary
        torch.randn(vocab) * 4.0,  # peaked
        torch.randn(vocab) * 2,
        torch.randn(vocab) - 30.0,  # all negative
        torch.where(torch.rand(vocab) < 0.5, torch.full((vocab,), float("-inf")), torch.randn(vocab)),
        torch.zeros(vocab),  # every token tied
    ]
    logits = torch.stack(rows).bfloat16()
    index = torch.arange(len(rows))
    for temperature in (0.7, 1.0):
        inv = torch.full((len(rows),), 1.0 / temperature)
        scaled = logits.float() * inv[:, None]
        for p in (1e-6, 0.1, 0.5, 0.9, 0.95, 0.999, 1.0):
            top_p = torch.full((len(rows),), p)
            want = top_p_threshold(scaled, top_p)  # in scaled values; the search returns the logit
            got = sampling.top_p_edge(logits, index, inv, top_p)
            got_scaled = torch.where(got > float("-inf"), got * inv, got)
            assert torch.equal(got_scaled, want), (temperature, p, got_scaled, want)
