"""Where the native engine's start-up goes, and what it keeps on disk so that the next start is short.

`StartupTimes` records each phase (tokenizer, weights, KV plan with its trial prefill, CUDA graphs, sampler
warm-up, the first prefill and decode round of the run) and the time Triton spent compiling or loading
kernels inside them: `JITFunction._do_compile` runs on every in-memory cache miss, and reads its disk cache
(~/.triton/cache, or $TRITON_CACHE_DIR) before compiling, so its time is "kernel compile" on a fresh machine
and "kernel load" on a warm one.

The tokenizer loads through `engines.tokenizer_cache` (the class AutoTokenizer chose, remembered on disk).
"""

from __future__ import annotations

import contextlib
import threading
import time


IMPORTS = {"seconds": 0.0}  # importing the engine package (torch with it, when nothing imported it before)


class StartupTimes:
    """Seconds per phase, in the order they ran, plus Triton's compile/load time inside each. The first
    engine of a process also reports the package's import time."""

    def __init__(self):
        self.phases: dict[str, float] = {}
        self.compile_in: dict[str, float] = {}
        if IMPORTS["seconds"]:
            self.record("imports", IMPORTS["seconds"])
            IMPORTS["seconds"] = 0.0

    @contextlib.contextmanager
    def phase(self, name: str):
        compiled = triton_compile_seconds()
        started = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - started
            self.compile_in[name] = self.compile_in.get(name, 0.0) + triton_compile_seconds() - compiled

    def record(self, name: str, seconds: float, compile_seconds: float = 0.0) -> None:
        self.phases[name] = seconds
        self.compile_in[name] = compile_seconds

    def as_dict(self) -> dict:
        out = {f"{name}_s": round(s, 3) for name, s in self.phases.items()}
        out["triton_compile_s"] = round(sum(self.compile_in.values()), 3)
        out["triton_kernels_compiled"] = _COMPILE["count"]
        return out

    def describe(self) -> str:
        """One line for the run log: each phase, and how much of it was Triton compiling/loading kernels."""
        parts = []
        for name, seconds in self.phases.items():
            compiled = self.compile_in.get(name, 0.0)
            parts.append(f"{name} {seconds:.2f}s" + (f" (kernels {compiled:.2f}s)" if compiled >= 0.005 else ""))
        return ", ".join(parts)


# -- Triton compile time ---------------------------------------------------------------------------------------
_COMPILE = {"seconds": 0.0, "count": 0}
_LOCK = threading.Lock()


def install_compile_timer() -> bool:
    """Wrap Triton's compile entry once per process; False where Triton (or the hook point) is missing."""
    try:
        from triton.runtime.jit import JITFunction
    except ImportError:
        return False
    original = getattr(JITFunction, "_do_compile", None)
    if original is None:
        return False
    if getattr(original, "_matheval_timed", False):
        return True

    def timed(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            with _LOCK:
                _COMPILE["seconds"] += time.perf_counter() - started
                _COMPILE["count"] += 1

    timed._matheval_timed = True
    JITFunction._do_compile = timed
    return True


def triton_compile_seconds() -> float:
    return _COMPILE["seconds"]


