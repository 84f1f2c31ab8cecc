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
