"""Every Triton kernel of the native engine compiles for the GPUs it runs on (Hopper, sm_90), here on a
CPU: Triton lowers it to PTX and assembles it with its bundled ptxas, no GPU needed.

The interpreter tests (test_triton_kernels.py) check what the kernels compute; they cannot see what only
the GPU compiler refuses (a `tl.constexpr` annotation inside a loop passed the interpreter and failed on
the H100 once). Shapes and settings are the engine's for a Qwen2.5-1.5B model in bf16. The test session
runs Triton interpreted (conftest.py), so the compiling happens in a child process: this file run as a
script, which prints one JSON line of kernel -> error (None when it compiled).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

triton = pytest.importorskip("triton")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # as a script, from a checkout
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from matheval.engines.native import triton_fused, triton_gemm, triton_kernels, triton_sampling, triton_unified  # noqa: E402

HOPPER = GPUTarget("cuda", 90, 32)
HEADS, KV_HEADS, HEAD_DIM = 12, 2, 128
SPLITS = dict(MAX_SPLITS=triton_sampling.MAX_SPLITS, LEVELS=triton_sampling.LEVELS)
ATTENTION = dict(GROUP=HEADS // KV_HEADS, HEAD_DIM=HEAD_DIM, BLOCK_D=HEAD_DIM, BLOCK_SIZE=16, PRECISION="tf32")
DECODE = {k: v for k, v in triton_kernels.DECODE_CONFIG.items() if k == "BLOCK_N"}
PREFILL = {k: v for k, v in triton_kernels.PREFILL_CONFIG.items() if k.startswith("BLOCK")}


def i32(*names):
    return dict.fromkeys(names, "i32")


def gemm(n: int, k: int, dtype: str, bias: bool):
    """The deterministic mode's product for one weight shape, with its launch settings."""
    _, consts = triton_gemm.launch_settings(n, k, 4 if dtype == "fp32" else 2)
    options = {"num_warps": consts.pop("num_warps"), "num_stages": consts.pop("num_stages")}
    pointers = {name: f"*{dtype}" for name in ("X", "W", "B", "Y")}
    # as launched: 16-byte aligned pointers and strides (the loads are then pipelined, in shared memory)
    aligned = {(i,): [["tt.divisibility", 16]] for i in (0, 1, 2, 3, 5, 6, 7, 8, 9)}
    return (triton_gemm._gemm_kernel, {**pointers, **i32("M", "N", "K", "stride_xm", "stride_wn", "stride_ym")},
            dict(HAS_BIAS=bias, **consts), options, aligned)


UNIFIED = dict(GROUP=HEADS // KV_HEADS, NUM_HEADS=HEADS, HEAD_DIM=HEAD_DIM, BLOCK_D=HEAD_DIM, BLOCK_SIZE=16,
               BLOCK_M=triton_unified.CONFIG["BLOCK_M"], BLOCK_Q=triton_unified.query_tile_tokens(HEADS, KV_HEADS),
               BLOCK_N=triton_unified.CONFIG["BLOCK_N"], CHUNK=triton_unified.CHUNK_TILES * triton_unified.CONFIG["BLOCK_N"])


# (kernel, runtime argument types in order, constexprs, compile options[, argument attributes])
KERNELS = {
    "decode": (triton_kernels._decode_kernel,
               {"Q": "*bf16", "K": "*bf16", "V": "*bf16", "O": "*bf16", "BT": "*i32", "CTX": "*i32", "qk_scale": "fp32",
                **i32("stride_qt", "stride_qh", "stride_ot", "stride_oh", "stride_bt", "stride_kb", "stride_ks", "stride_kh")},
               dict(BLOCK_G=16, **DECODE, **ATTENTION), {"num_warps": 2, "num_stages": 3}),
    "decode_split": (triton_kernels._decode_split_kernel,
                     {"Q": "*bf16", "K": "*bf16", "V": "*bf16", "PART_O": "*fp32", "PART_M": "*fp32", "PART_L": "*fp32",
                      "BT": "*i32", "CTX": "*i32", "qk_scale": "fp32",
                      **i32("stride_qt", "stride_qh", "stride_bt", "stride_kb", "stride_ks", "stride_kh")},
                     dict(BLOCK_G=16, SPLITS=4, NUM_HEADS=HEADS, MIN_TILES=4, **DECODE, **ATTENTION),
                     {"num_warps": 2, "num_stages": 3}),
    "decode_merge": (triton_kernels._decode_merge_kernel,
                     {"PART_O": "*fp32", "PART_M": "*fp32", "PART_L": "*fp32", "O": "*bf16", **i32("stride_ot", "stride_oh")},
                     dict(HEAD_DIM=HEAD_DIM, BLOCK_D=HEAD_DIM, SPLITS=4, NUM_HEADS=HEADS), {}),
    "prefill": (triton_kernels._prefill_kernel,
                {"Q": "*bf16", "K": "*bf16", "V": "*bf16", "O": "*bf16", "BT": "*i32", "CTX": "*i64", "CU_Q": "*i32",
                 "qk_scale": "fp32",
                 **i32("stride_qt", "stride_qh", "stride_ot", "stride_oh", "stride_bt", "stride_kb", "stride_ks", "stride_kh")},
                dict(**PREFILL, **ATTENTION), {"num_warps": 4, "num_stages": 3}),
    "add_rms_norm": (triton_fused._add_rms_norm_kernel,
                     {"X": "*bf16", "R": "*bf16", "W": "*bf16", "OUT": "*bf16", **i32("stride_x", "stride_r", "stride_o", "N"),
                      "eps": "fp32"},
                     dict(HAS_RESIDUAL=True, BLOCK=2048), {"num_warps": 8, **triton_fused.EXACT}),
    "silu_mul": (triton_fused._silu_mul_kernel, {"X": "*bf16", "OUT": "*bf16", **i32("stride_x", "stride_o", "N")},
                 dict(BLOCK=1024), {"num_warps": 4, **triton_fused.EXACT}),
    "rope_store": (triton_fused._rope_store_kernel,
                   {"Q": "*bf16", "K": "*bf16", "V": "*bf16", "POS": "*i64", "COS": "*fp32", "SIN": "*fp32", "KC": "*bf16",
                    "VC": "*bf16", "SLOT": "*i64", **i32("stride_qt", "stride_kt", "stride_vt", "stride_cos", "stride_slot")},
                   dict(NUM_HEADS=HEADS, NUM_KV_HEADS=KV_HEADS, BLOCK_H=16, BLOCK_KV=2, HEAD_DIM=HEAD_DIM, HALF=HEAD_DIM // 2),
                   {"num_warps": 4, **triton_fused.EXACT}),
    "softmax_part": (triton_sampling._softmax_part_kernel,
                     {"LOGITS": "*bf16", "ROWS": "*i64", "INV_T": "*fp32", "PART": "*fp32", **i32("stride_row", "V", "CHUNK")},
                     dict(BLOCK=triton_sampling.BLOCK, **SPLITS), {"num_warps": triton_sampling.WARPS}),
    **{f"edge_level_{level}": (triton_sampling._edge_level_kernel,
                               {"LOGITS": "*bf16", "ROWS": "*i64", "INV_T": "*fp32", "TOP_P": "*fp32", "PART": "*fp32",
                                **i32("stride_row", "V", "CHUNK", "splits")},
                               dict(LEVEL=level, BLOCK=triton_sampling.BLOCK, **SPLITS),
                               {"num_warps": triton_sampling.WARPS})
       for level in (0, triton_sampling.LEVELS - 1)},
    "edge_read": (triton_sampling._edge_read_kernel,
                  {"LOGITS": "*bf16", "TOP_P": "*fp32", "PART": "*fp32", "OUT": "*fp32", **i32("splits")},
                  SPLITS, {"num_warps": triton_sampling.WARPS}),
    "gumbel_part": (triton_sampling._gumbel_part_kernel,
                    {"LOGITS": "*bf16", "ROWS": "*i64", "INV_T": "*fp32", "KEYS": "*i64", "EDGE": "*fp32", "BEST": "*fp32",
                     "BEST_INDEX": "*i32", **i32("stride_row", "V", "CHUNK", "offset")},
                    dict(HAS_EDGE=True, MAX_SPLITS=triton_sampling.MAX_SPLITS, BLOCK=triton_sampling.GUMBEL_BLOCK),
                    {"num_warps": triton_sampling.GUMBEL_WARPS}),
    "gumbel_pick": (triton_sampling._gumbel_pick_kernel,
                    {"BEST": "*fp32", "BEST_INDEX": "*i32", "OUT": "*i64", **i32("splits", "V")},
                    dict(MAX_SPLITS=triton_sampling.MAX_SPLITS), {"num_warps": 1}),
    # deterministic mode: the 1.5B model's projections (qkv with bias, o, gate_up, down, lm_head; one in fp32)
    **{f"gemm_{n}x{k}": gemm(n, k, "bf16", n == 2048) for n, k in ((2048, 1536), (1536, 1536), (17920, 1536),
                                                               (1536, 8960), (151936, 1536))},
    "gemm_fp32": gemm(2048, 1536, "fp32", True),
    "unified_attention": (triton_unified._attention_kernel,
                          {"Q": "*bf16", "K": "*bf16", "V": "*bf16", "O": "*bf16", "PART_O": "*fp32", "PART_M": "*fp32",
                           "PART_L": "*fp32", "BT": "*i32", "CTX": "*i64", "CU_Q": "*i32", "qk_scale": "fp32",
                           **i32("stride_qt", "stride_qh", "stride_ot", "stride_oh", "stride_bt", "stride_kb", "stride_ks",
                                 "stride_kh", "splits", "max_chunks")},
                          dict(**UNIFIED, PRECISION="tf32"),
                          {"num_warps": triton_unified.CONFIG["num_warps"], "num_stages": triton_unified.CONFIG["num_stages"]}),
    "unified_fold": (triton_unified._fold_kernel,
                     {"PART_O": "*fp32", "PART_M": "*fp32", "PART_L": "*fp32", "O": "*bf16", "CTX": "*i64",
                      **i32("stride_ot", "stride_oh", "max_chunks")},
                     dict(NUM_HEADS=HEADS, HEAD_DIM=HEAD_DIM, BLOCK_D=HEAD_DIM, CHUNK=UNIFIED["CHUNK"]), {}),
}  # fmt: skip


def compile_all() -> dict[str, str | None]:
    errors = {}
    for name, (kernel, arguments, constants, options, *attrs) in KERNELS.items():
        signature = {**arguments, **dict.fromkeys(constants, "constexpr")}
        try:
            source = ASTSource(kernel, signature, constexprs=constants, attrs=attrs[0] if attrs else None)
            compiled = triton.compile(source, target=HOPPER, options=options)
            assert ".target sm_90" in compiled.asm["ptx"] and compiled.asm.get("cubin"), "no sm_90 binary"
            errors[name] = None
        except Exception as exc:  # noqa: BLE001 - reported per kernel
            errors[name] = f"{type(exc).__name__}: {str(exc)[-1500:]}"
    return errors


@pytest.fixture(scope="module")
def compiled() -> dict[str, str | None]:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernel_compiles_for_hopper(compiled, name):
    assert compiled[name] is None, compiled[name]


if __name__ == "__main__":
    print(json.dumps(compile_all()))
