"""`matheval check` (and the seed's `python -m models.check_vllm`): what this machine can run.

Reports vLLM (its version, or why it cannot be imported), torch and CUDA, each GPU with its memory,
the sandbox's isolation layers, and recommends a backend and batch size. Exit status 0 means vLLM
is usable here (importable and a CUDA GPU present), 1 means it is not, so scripts can branch on it.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field


@dataclass
class Report:
    python: str = platform.python_version()
    torch: str | None = None
    cuda: str | None = None  # the CUDA version torch was built with
    gpus: list[tuple[str, float]] = field(default_factory=list)  # (name, GiB)
    cpus: int = os.cpu_count() or 1
    memory_gib: float = 0.0
    transformers: str | None = None
    vllm: str | None = None
    vllm_error: str | None = None
    sandbox: dict[str, bool] = field(default_factory=dict)
    sandbox_error: str | None = None

    @property
    def vllm_usable(self) -> bool:
        return self.vllm is not None and bool(self.gpus)


def gather() -> Report:
    report = Report()
    try:
        import torch

        report.torch = torch.__version__
        report.cuda = torch.version.cuda
        if torch.cuda.is_available():
            for index in range(torch.cuda.device_count()):
                props = torch.cuda.get_device_properties(index)
                report.gpus.append((props.name, props.total_memory / 2**30))
    except Exception as exc:  # noqa: BLE001 - a broken torch is itself worth reporting
        report.torch = None
        report.vllm_error = f"torch: {exc}"
    try:
        import transformers

        report.transformers = transformers.__version__
    except Exception:  # noqa: BLE001
        pass
    try:
        import vllm

        report.vllm = getattr(vllm, "__version__", "unknown version")
    except Exception as exc:  # noqa: BLE001 - ImportError, or a CUDA/torch mismatch raised at import
        report.vllm_error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    from .engines.memory import available_memory_bytes

    report.memory_gib = available_memory_bytes() / 2**30
    try:
        from .sandbox import sandbox_capabilities

        report.sandbox = sandbox_capabilities()
    except Exception as exc:  # noqa: BLE001
        report.sandbox_error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return report


def recommend(report: Report) -> str:
    """One line: which backend, and what batch size, for this machine."""
    if report.vllm_usable:
        return ("--inference_backend vllm (vLLM schedules its own batches; 512 problems are in flight by "
                "default)")
    if report.gpus:
        smallest = min(memory for _, memory in report.gpus)
        guess = 64 if smallest >= 40 else 32 if smallest >= 20 else 8
        return (f"--inference_backend transformers --batch_size auto (probes the GPU; about {guess} rows for a "
                "1.5B model), or --inference_backend continuous; install vLLM for the most speed")
    return ("--inference_backend transformers --batch_size auto (on a CPU: 16 rows, fewer when memory is short; "
            "more add little), or --inference_backend openai against a GPU server; see benchmarks/RESULTS.md")


def render(report: Report) -> str:
    lines = [f"python        {report.python} on {platform.machine()}, {report.cpus} CPUs, "
             f"{report.memory_gib:.1f} GiB memory available"]
    lines.append(f"torch         {report.torch or 'not importable'} (CUDA {report.cuda or 'none: CPU build'})")
    lines.append(f"transformers  {report.transformers or 'not importable'}")
    if report.gpus:
        for index, (name, memory) in enumerate(report.gpus):
            lines.append(f"gpu {index}         {name}, {memory:.1f} GiB")
    else:
        lines.append("gpus          none visible to torch")
    if report.vllm:
        usable = "usable" if report.vllm_usable else "installed, but there is no CUDA GPU to run it"
        lines.append(f"vllm          {report.vllm} ({usable})")
    else:
        lines.append(f"vllm          not usable: {report.vllm_error}; pip install 'matheval[vllm]' on a CUDA machine")
    if report.sandbox:
        from .sandbox import LAYER_LOSS, applicable_layers

        applicable = applicable_layers(os.geteuid() == 0)
        active = [name for name, on in report.sandbox.items() if on]
        missing = [name for name, on in report.sandbox.items() if not on and name in applicable]
        lines.append(f"sandbox       active: {', '.join(active) or 'none'}"
                     + (f"; unavailable: {', '.join(missing)}" if missing else ""))
        lines += [f"              - without {name}: {LAYER_LOSS[name]}" for name in missing if name in LAYER_LOSS]
    else:
        lines.append(f"sandbox       probe failed: {report.sandbox_error}")
    lines.append(f"recommended   {recommend(report)}")
    return "\n".join(lines)


def main() -> int:
    report = gather()
    print(render(report))
    return 0 if report.vllm_usable else 1


if __name__ == "__main__":
    sys.exit(main())
