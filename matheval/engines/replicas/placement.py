"""How many replicas, and what each one gets: its GPUs (CUDA_VISIBLE_DEVICES) or its share of the cores.

Checked before anything starts, so that asking for more replicas than the machine (or cluster) has is one
line, not N half-started processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ...errors import UserError
from ..base import EngineOptions


@dataclass(frozen=True)
class Slot:
    """One replica's share: the GPUs it sees (as the driver numbers them), or its CPU threads."""

    gpus: tuple[str, ...] = ()
    threads: int | None = None

    @property
    def label(self) -> str:
        return f"cuda:{','.join(self.gpus)}" if self.gpus else f"cpu x{self.threads}"

    @property
    def env(self) -> dict:
        return {"CUDA_VISIBLE_DEVICES": ",".join(self.gpus)} if self.gpus else {"CUDA_VISIBLE_DEVICES": ""}


def gpus_per_replica(options: EngineOptions) -> int:
    """vLLM's tensor parallelism spans GPUs inside one replica; every other backend takes one GPU."""
    return int(options.extra.get("tensor_parallel_size") or 1)


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES names them (or 0..n-1)."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g.strip() for g in listed.split(",") if g.strip()]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        return []


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def wants_gpu(options: EngineOptions, gpus: list[str]) -> bool:
    if options.device:
        return options.device.startswith("cuda")
    return bool(gpus)


def local_slots(requested: int | str, options: EngineOptions) -> list[Slot]:
    """The replicas' shares on this machine for --data_parallel N (or auto: one per GPU, 1 on a CPU)."""
    if options.device not in (None, "cpu", "cuda"):
        raise UserError(f"--device {options.device} with --data_parallel: each replica takes its own GPU; choose "
                        "the GPUs with CUDA_VISIBLE_DEVICES instead")
    gpus = visible_gpus()
    if wants_gpu(options, gpus):
        if not gpus:
            raise UserError("--device cuda was asked for but no GPU is visible: use --device cpu")
        per = gpus_per_replica(options)
        count = len(gpus) // per if requested == "auto" else int(requested)
        if count < 1 or count * per > len(gpus):
            raise UserError(f"--data_parallel {requested} needs {max(count, 1) * per} GPUs ({per} per replica) but "
                            f"{len(gpus)} are visible: use --data_parallel {max(1, len(gpus) // per)} or fewer")
        return [Slot(gpus=tuple(gpus[i * per:(i + 1) * per])) for i in range(count)]
    cores = usable_cores()
    count = 1 if requested == "auto" else int(requested)
    if count > cores:
        raise UserError(f"--data_parallel {count} on the CPU needs a core per replica but this process may use "
                        f"{cores}: use --data_parallel {cores} or fewer")
    return [Slot(threads=max(1, cores // count)) for _ in range(count)]


def ray_count(requested: int | str, options: EngineOptions, resources: dict) -> tuple[int, int, int]:
    """(replicas, GPUs each, CPUs each) on a Ray cluster with `resources` (ray.cluster_resources())."""
    gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 0))
    on_gpu = options.device.startswith("cuda") if options.device else gpus > 0
    per = gpus_per_replica(options) if on_gpu else 0
    if requested == "auto":
        count = gpus // per if on_gpu else 1
    else:
        count = int(requested)
    have, need = (gpus, count * per) if on_gpu else (cpus, count)
    if count < 1 or need > have:
        kind = "GPUs" if on_gpu else "CPUs"
        raise UserError(f"--data_parallel {requested} needs {need} {kind} on the Ray cluster, which has {have}: "
                        "lower --data_parallel or add nodes")
    return count, per, 0 if on_gpu else 1
