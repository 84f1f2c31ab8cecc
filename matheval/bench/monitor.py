"""What the machine is and does: versions, the two measured ceilings, GPU utilization and peak memory.

GPU utilization comes from `nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv -lms 200`
running in a background process during each measurement (the percentage of 200 ms windows in which a
kernel ran: a busy-ness figure, not a share of the chip's arithmetic). On a machine without nvidia-smi
there is none, and the tables say so.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import torch

from .roofline import Ceilings

SAMPLE_MS = 200


def device_slug(device: str) -> str:
    """A short name for file names: 'h100-80gb-hbm3' for an NVIDIA H100, 'cpu' on a CPU."""
    if not device.startswith("cuda"):
        return "cpu"
    name = torch.cuda.get_device_name(torch.device(device)).lower().replace("nvidia", "")
    return re.sub(r"[^a-z0-9]+", "-", name).strip("-") or "gpu"


def device_info(device: str) -> dict:
    info = {"device": device, "slug": device_slug(device), "cpu_count": _cpu_count(),
            "threads": torch.get_num_threads(), "platform": platform.platform()}
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(torch.device(device))
        info.update(name=props.name, memory_GB=round(props.total_memory / 1e9, 1), sms=props.multi_processor_count)
        info["driver"] = _smi_query(device, "driver_version")
    else:
        info["name"] = f"CPU ({platform.processor() or platform.machine()}, {_cpu_count()} cores)"
    return info


def versions() -> dict:
    found = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda}
    for module in ("transformers", "triton", "numpy"):
        try:
            found[module] = __import__(module).__version__
        except ImportError:
            found[module] = None
    return found


def source_commit() -> str | None:
    """The commit the measured code is at, so that a table can say what it measured: $MATHEVAL_COMMIT (which
    benchmarks/run_gpu.sh sets, since the device machine gets the files without .git), else git's short hash
    of this checkout, "+changes" when tracked files differ from it; None outside a git checkout."""
    if os.environ.get("MATHEVAL_COMMIT"):
        return os.environ["MATHEVAL_COMMIT"]
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "--short=7", "HEAD")
    if not commit:
        return None
    return commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _smi_index(device: str) -> str:
    index = torch.device(device).index
    return str(torch.cuda.current_device() if index is None else index)


def _smi_query(device: str, field: str) -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(["nvidia-smi", "-i", _smi_index(device), f"--query-gpu={field}",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


# -- ceilings ----------------------------------------------------------------------------------------------
def measure_ceilings(device: str, dtype: torch.dtype) -> tuple[Ceilings, dict]:
    """Copy bandwidth (a large device-to-device copy, bytes read + written) and matmul rate (a large product
    in the model's dtype), each the median of several timed repeats after a warm-up."""
    gpu = device.startswith("cuda")
    copy_bytes = (2 << 30) if gpu else (128 << 20)
    source = torch.randn(copy_bytes // 4, device=device)
    target = torch.empty_like(source)
    copy_s = _median_seconds(lambda: target.copy_(source), device, repeats=10 if gpu else 5)
    del source, target
    size = 8192 if gpu else 1024
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    matmul_s = _median_seconds(lambda: a @ b, device, repeats=10 if gpu else 3)
    del a, b
    if gpu:
        torch.cuda.empty_cache()
    ceilings = Ceilings(copy_bytes_per_s=2 * copy_bytes / copy_s, matmul_flops_per_s=2 * size**3 / matmul_s)
    how = {"copy": f"{copy_bytes >> 20} MiB device-to-device copy, bytes read + written, median of repeats",
           "matmul": f"{size}x{size}x{size} {str(dtype).replace('torch.', '')} matmul on random data, median",
           "copy_TB_s": round(ceilings.copy_bytes_per_s / 1e12, 3),
           "matmul_TFLOP_s": round(ceilings.matmul_flops_per_s / 1e12, 2)}
    return ceilings, how


def _median_seconds(fn, device: str, repeats: int) -> float:
    gpu = device.startswith("cuda")
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        if gpu:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
    times.sort()
    return times[len(times) // 2]


# -- during a measurement -----------------------------------------------------------------------------------
class GpuMonitor:
    """nvidia-smi sampling every 200 ms in a background process, from start() to stop()."""

    def __init__(self, device: str):
        self.available = device.startswith("cuda") and shutil.which("nvidia-smi") is not None
        self.device = device
        self.samples: list[tuple[float, float]] = []
        self._proc = None
        self._reader = None

    def start(self) -> None:
        self.samples = []
        if not self.available:
            return
        self._proc = subprocess.Popen(
            ["nvidia-smi", "-i", _smi_index(self.device), "--query-gpu=utilization.gpu,memory.used",
             "--format=csv,noheader,nounits", "-lms", str(SAMPLE_MS)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._proc.stdout:
            parts = [p.strip() for p in line.split(",")]
            try:
                self.samples.append((float(parts[0]), float(parts[1])))
            except (ValueError, IndexError):
                continue

    def stop(self) -> dict:
        if not self.available:
            return {"gpu_util_mean": None, "gpu_util_note": "no GPU utilization: nvidia-smi is absent (CPU run)"}
        self._proc.terminate()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        self._reader.join(timeout=5)
        utils = [u for u, _ in self.samples]
        return {"gpu_util_mean": round(sum(utils) / len(utils), 1) if utils else None,
                "gpu_util_samples": len(utils),
                "gpu_memory_used_max_MiB": max((m for _, m in self.samples), default=None)}


def reset_peak_memory(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))
        torch.cuda.reset_peak_memory_stats(torch.device(device))


def peak_memory_gb(device: str) -> float | None:
    if not device.startswith("cuda"):
        return None
    return round(torch.cuda.max_memory_allocated(torch.device(device)) / 1e9, 2)
