"""Run the engine's Triton kernels on the CPU, under Triton's interpreter: how the tests check the GPU
code path on a machine without a GPU (slow: numpy executes every program instance).

Call `enable()` before triton is first imported (Triton decides when its own library and each
`@triton.jit` kernel is defined whether it is compiled or interpreted); it reloads our kernel modules if
they were imported already.
"""

from __future__ import annotations

import importlib
import os
import sys

KERNEL_MODULES = (
    "matheval.engines.native.triton_kernels",
    "matheval.engines.native.triton_fused",
    "matheval.engines.native.triton_sampling",
)


def enable() -> None:
    if "triton" in sys.modules and os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError("set TRITON_INTERPRET=1 before triton is imported (e.g. before torch.compile runs)")
    os.environ["TRITON_INTERPRET"] = "1"
    import triton.runtime.interpreter as interpreter

    if not getattr(interpreter, "_matheval_patched", False):
        # numpy >= 2.4 refuses int() of a one-element array, which Triton 3.6's interpreter does for loop bounds.
        patch = interpreter._patch_lang_tensor

        def patch_with_index(tensor, scope):
            patch(tensor, scope)
            scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.reshape(-1)[0]))

        interpreter._patch_lang_tensor = patch_with_index
        _round_bf16_to_nearest(interpreter)
        _dot_in_fixed_order(interpreter)
        interpreter._matheval_patched = True
    for name in KERNEL_MODULES:
        if name in sys.modules:
            importlib.reload(sys.modules[name])


def _round_bf16_to_nearest(interpreter) -> None:
    """The interpreter truncates fp32 -> bf16; compiled Triton (and torch) round to nearest even. Kernels
    that mimic torch's rounding step by step can only be checked against it with the GPU's rounding."""
    import numpy as np
    import torch
    import triton.language as tl

    cast = interpreter.InterpreterBuilder.cast_impl

    def cast_rounding(self, src, dst_type):
        if src.dtype.scalar == tl.float32 and dst_type.scalar == tl.bfloat16:
            rounded = torch.from_numpy(np.ascontiguousarray(src.data, dtype=np.float32)).to(torch.bfloat16)
            return interpreter.TensorHandle(rounded.view(torch.int16).numpy().view(np.uint16), tl.bfloat16)
        return cast(self, src, dst_type)

    interpreter.InterpreterBuilder.cast_impl = cast_rounding


def _dot_in_fixed_order(interpreter) -> None:
    """The interpreter's tl.dot is numpy's matmul, which (a) multiplies bf16 operands as their raw 16-bit
    integers and (b) sums each element in an order that depends on its row's place in the tile (OpenBLAS's
    micro-kernels): the GPU's matrix instructions compute every row the same way. Here each element is
    summed over k by one rule for every element (numpy's reduction along k), in the accumulator's dtype, from exactly widened operands, so the batch-
    invariance tests see what the compiled kernels do: a row's result depends on that row alone."""
    import numpy as np
    import triton.language as tl

    def widen(handle):
        data = handle.data
        if handle.dtype.scalar == tl.bfloat16:
            return (data.astype(np.uint32) << 16).view(np.float32)
        return data.astype(np.float32) if data.dtype == np.float16 else data

    def create_dot(self, a, b, d, input_precision, max_num_imprecise_acc):
        dtype = d.data.dtype
        x, y = widen(a).astype(dtype), widen(b).astype(dtype)
        products = x[..., :, :, None] * y[..., None, :, :]  # [.., M, K, N], each rounded once
        return interpreter.TensorHandle(products.sum(axis=-2, dtype=dtype) + d.data, d.dtype.scalar)

    interpreter.InterpreterBuilder.create_dot = create_dot
