"""The deterministic mode's kernels on the GPU, bit for bit and timed (the first part of run_determinism_gpu.sh).

1. Invariance, compiled: a row of each Qwen2.5-1.5B projection through `triton_gemm.linear` alone and inside
   batches of 2-16384 rows at several places, and through cuBLAS (F.linear, the control); attention of the
   same query positions through `triton_unified` as one prefill, a prefill after a cached prefix, and
   decode steps at 1, 4 and 16 programs per sequence, with the default kernels as the control.
2. Speed: each projection shape at 1-16384 rows, Triton (the shape's config and a few alternatives, for
   tuning `triton_gemm.CONFIGS`, at 256 rows) against cuBLAS; decode and prefill attention, unified against
   default.

    python3 benchmarks/determinism_probe.py --out /tmp/probe.json [--deadline 90]
    python3 benchmarks/determinism_probe.py --tiny        # the CPU check of this script (Triton interpreter)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FULL = {"hidden": 1536, "inter": 8960, "heads": 12, "kv_heads": 2, "dim": 128, "vocab": 151936,
        "rows": (1, 2, 7, 64, 255, 256, 1000, 4096, 16384), "timed_rows": (1, 16, 64, 128, 256, 512, 4096, 16384),
        "context": 3000, "decode_batches": (256, 32), "decode_context": 1000, "prefill": (32, 512)}  # fmt: skip
TINY = {"hidden": 64, "inter": 96, "heads": 4, "kv_heads": 2, "dim": 16, "vocab": 200, "rows": (1, 2, 7, 70),
        "timed_rows": (3, 256), "context": 40, "decode_batches": (4,), "decode_context": 40, "prefill": (2, 32)}  # fmt: skip
ALTERNATIVES = [dict(block_m=64, block_n=64, block_k=64), dict(block_m=64, block_n=128, block_k=64),
                dict(block_m=128, block_n=128, block_k=64, num_warps=8, num_stages=3),
                dict(block_m=128, block_n=32, block_k=128)]  # fmt: skip


def projections(s: dict) -> dict[str, tuple[int, int, bool]]:
    q, kv = s["heads"] * s["dim"], s["kv_heads"] * s["dim"]
    return {"qkv": (q + 2 * kv, s["hidden"], True), "o": (s["hidden"], q, False),
            "gate_up": (2 * s["inter"], s["hidden"], False), "down": (s["hidden"], s["inter"], False),
            "lm_head": (s["vocab"], s["hidden"], False)}  # fmt: skip


def gemm_invariance(torch, gemm, s: dict, device, dtype) -> dict:
    """Rows 0 and 1 of a fixed input, alone and as rows of larger batches (at their start and end)."""
    import torch.nn.functional as F

    out = {}
    for name, (n, k, bias) in projections(s).items():
        weight = torch.randn(n, k, device=device, dtype=dtype) * 0.02
        b = torch.randn(n, device=device, dtype=dtype) if bias else None
        probe = torch.randn(2, k, device=device, dtype=dtype)
        result = {}
        for label, fn in (("triton", gemm.linear), ("cublas", F.linear)):
            alone = fn(probe[:1], weight, b)[0]
            same = True
            for m in s["rows"][1:]:
                batch = torch.randn(m, k, device=device, dtype=dtype)
                batch[0], batch[m - 1] = probe[0], probe[0]
                y = fn(batch, weight, b)
                same &= bool(torch.equal(y[0], alone) and torch.equal(y[m - 1], alone))
            result[label] = same
        result["max_rel_diff_vs_cublas"] = float(((gemm.linear(probe, weight, b).float() - F.linear(probe, weight, b).float()).abs().max()
                                                  / F.linear(probe, weight, b).float().abs().max()).item())  # fmt: skip
        out[name] = result
    return out


def attention_invariance(torch, s: dict, device, dtype) -> dict:
    from matheval.engines.native import triton_kernels, triton_unified

    heads, kv, dim, bs, total = s["heads"], s["kv_heads"], s["dim"], 16, s["context"]
    blocks = -(-total // bs) + 4
    k_cache = torch.randn(blocks, bs, kv, dim, device=device, dtype=dtype)
    v_cache = torch.randn_like(k_cache)
    table = torch.randperm(blocks, device=device)[None, : -(-total // bs)].int()
    q = torch.randn(total, heads, dim, device=device, dtype=dtype)
    scale = dim**-0.5
    cu = torch.tensor([0, total], dtype=torch.int32, device=device)
    ctx = torch.tensor([total], dtype=torch.int64, device=device)
    result = {}
    for label, kernels in (("unified", triton_unified), ("default", triton_kernels)):
        whole = torch.empty_like(q)
        kernels.paged_prefill(q, k_cache, v_cache, whole, table, ctx, cu, total, scale)
        cut = total // 2 + 3  # a cached prefix that ends mid-block
        tail = torch.empty_like(q[cut:])
        kernels.paged_prefill(q[cut:], k_cache, v_cache, tail, table, ctx,
                              torch.tensor([0, total - cut], dtype=torch.int32, device=device), total - cut, scale)  # fmt: skip
        positions = sorted({0, min(255, total - 1), min(256, total - 1), total // 3, total - 1})  # chunk edges
        decoded = {}
        for splits in (1, 4, 16):
            out = torch.empty(len(positions), heads, dim, device=device, dtype=dtype)
            kernels.paged_decode(q[positions], k_cache, v_cache, out, table.expand(len(positions), -1).contiguous(),
                                 torch.tensor([p + 1 for p in positions], dtype=torch.int64, device=device), scale, splits)  # fmt: skip
            decoded[splits] = out
        result[label] = {
            "cached_prefix_equals_whole": bool(torch.equal(tail, whole[cut:])),
            "decode_equals_prefill": {str(k): bool(torch.equal(v, whole[positions])) for k, v in decoded.items()},
            "max_abs_decode_vs_prefill": float((decoded[1].float() - whole[positions].float()).abs().max().item()),
        }
    return result


def timed(torch, fn, reps_ms: int = 60) -> float:
    """Median milliseconds (CUDA events through do_bench; on the CPU check, one timed call)."""
    if not torch.cuda.is_available():
        fn()
        began = time.perf_counter()
        fn()
        return 1000 * (time.perf_counter() - began)
    import triton.testing

    return float(triton.testing.do_bench(fn, warmup=15, rep=reps_ms, return_mode="median"))


def gemm_speed(torch, gemm, s: dict, device, dtype, deadline: float) -> dict:
    import torch.nn.functional as F

    out = {}
    for name, (n, k, bias) in projections(s).items():
        weight = torch.randn(n, k, device=device, dtype=dtype) * 0.02
        b = torch.randn(n, device=device, dtype=dtype) if bias else None
        rows = {}
        for m in s["timed_rows"]:
            if time.monotonic() > deadline or (name == "lm_head" and m > 1024):  # logits: decode rows only
                break
            x = torch.randn(m, k, device=device, dtype=dtype)
            entry = {"cublas_us": 1000 * timed(torch, lambda: F.linear(x, weight, b)),
                     "triton_us": 1000 * timed(torch, lambda: gemm.linear(x, weight, b))}  # fmt: skip
            if m == 256:  # decode's largest batch: the alternatives, for tuning
                default = gemm.CONFIGS.get((n, k))
                for i, alt in enumerate(ALTERNATIVES):
                    gemm.CONFIGS[(n, k)] = gemm.GemmConfig(**alt)
                    try:
                        entry[f"alt{i}_us"] = 1000 * timed(torch, lambda: gemm.linear(x, weight, b))
                    except Exception as exc:  # noqa: BLE001 - a config that does not fit is a finding
                        entry[f"alt{i}_us"] = f"{type(exc).__name__}: {str(exc)[:80]}"
                if default is None:
                    del gemm.CONFIGS[(n, k)]
                else:
                    gemm.CONFIGS[(n, k)] = default
            bytes_moved = (n * k + m * k + m * n) * weight.element_size()
            entry["triton_TB_s"] = round(bytes_moved / entry["triton_us"] / 1e6, 2)
            entry["triton_over_cublas"] = round(entry["triton_us"] / entry["cublas_us"], 3)
            rows[str(m)] = {key: round(v, 2) if isinstance(v, float) else v for key, v in entry.items()}
        out[name] = {"shape": [n, k], "config": vars(gemm.config_for(n, k)), "rows": rows}
    return out


def attention_speed(torch, s: dict, device, dtype, multiprocessors: int) -> dict:
    from matheval.engines.native import triton_kernels, triton_unified

    heads, kv, dim, bs = s["heads"], s["kv_heads"], s["dim"], 16
    out = {}
    for batch in s["decode_batches"]:
        ctx_len = s["decode_context"]
        per = -(-ctx_len // bs)
        k_cache = torch.randn(batch * per + 1, bs, kv, dim, device=device, dtype=dtype)
        v_cache = torch.randn_like(k_cache)
        tables = torch.arange(batch * per, device=device, dtype=torch.int32).view(batch, per)
        q = torch.randn(batch, heads, dim, device=device, dtype=dtype)
        o = torch.empty_like(q)
        ctx = torch.full((batch,), ctx_len, dtype=torch.int64, device=device)
        splits = triton_kernels.decode_splits(batch, kv, multiprocessors)
        out[f"decode_b{batch}_ctx{ctx_len}"] = {
            "splits": splits,
            "default_us": round(1000 * timed(torch, lambda: triton_kernels.paged_decode(q, k_cache, v_cache, o, tables, ctx, dim**-0.5, splits)), 2),
            "unified_us": round(1000 * timed(torch, lambda: triton_unified.paged_decode(q, k_cache, v_cache, o, tables, ctx, dim**-0.5, splits)), 2),
        }  # fmt: skip
    if s["prefill"]:
        seqs, length = s["prefill"]
        per = length // bs
        k_cache = torch.randn(seqs * per + 1, bs, kv, dim, device=device, dtype=dtype)
        v_cache = torch.randn_like(k_cache)
        tables = torch.arange(seqs * per, device=device, dtype=torch.int32).view(seqs, per)
        q = torch.randn(seqs * length, heads, dim, device=device, dtype=dtype)
        o = torch.empty_like(q)
        ctx = torch.full((seqs,), length, dtype=torch.int64, device=device)
        cu = torch.arange(0, seqs * length + 1, length, dtype=torch.int32, device=device)
        out[f"prefill_{seqs}x{length}"] = {
            "default_us": round(1000 * timed(torch, lambda: triton_kernels.paged_prefill(q, k_cache, v_cache, o, tables, ctx, cu, length, dim**-0.5)), 2),
            "unified_us": round(1000 * timed(torch, lambda: triton_unified.paged_prefill(q, k_cache, v_cache, o, tables, ctx, cu, length, dim**-0.5)), 2),
        }  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=None, help="JSON file of every number")
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds: stop timing after this")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes under Triton's interpreter (the CPU check)")
    args = parser.parse_args()
    started = time.monotonic()
    if args.tiny:
        from matheval.engines.native import triton_interpret

        triton_interpret.enable()
    import torch

    from matheval.engines.native import triton_gemm, triton_unified

    s = TINY if args.tiny else FULL
    device = "cpu" if args.tiny else "cuda"
    if args.tiny:  # short chunks, so that the tiny context spans several
        triton_unified.CONFIG["BLOCK_N"], triton_unified.CHUNK_TILES = 16, 1
    torch.manual_seed(0)
    report: dict = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu (interpreter)",
                    "torch": torch.__version__, "triton": __import__("triton").__version__}  # fmt: skip
    report["gemm_invariance"] = gemm_invariance(torch, triton_gemm, s, device, torch.bfloat16)
    print("GEMM rows bit-identical in batches of", s["rows"], flush=True)
    for name, r in report["gemm_invariance"].items():
        print(f"  {name:8s} triton {r['triton']}  cublas {r['cublas']}  max rel diff {r['max_rel_diff_vs_cublas']:.2e}")
    report["attention_invariance"] = attention_invariance(torch, s, device, torch.bfloat16)
    for label, r in report["attention_invariance"].items():
        print(f"attention {label}: cached prefix == whole {r['cached_prefix_equals_whole']}; decode == prefill at "
              f"splits {r['decode_equals_prefill']} (max abs diff {r['max_abs_decode_vs_prefill']:.2e})", flush=True)
    sms = torch.cuda.get_device_properties(0).multi_processor_count if device == "cuda" else 4
    report["gemm_speed"] = gemm_speed(torch, triton_gemm, s, device, torch.bfloat16, started + args.deadline)
    print("GEMM us (triton / cublas) by rows:")
    for name, r in report["gemm_speed"].items():
        cells = "  ".join(f"{m}: {v['triton_us']:.0f}/{v['cublas_us']:.0f}" for m, v in r["rows"].items())
        print(f"  {name:8s} {r['shape']}  {cells}", flush=True)
    if time.monotonic() < started + args.deadline:
        report["attention_speed"] = attention_speed(torch, s, device, torch.bfloat16, sms)
        for name, r in report["attention_speed"].items():
            print(f"  {name}: {r}", flush=True)
    report["seconds"] = round(time.monotonic() - started, 1)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"probe done in {report['seconds']} s", flush=True)


if __name__ == "__main__":
    main()
