"""Data parallelism: N engine replicas (on this machine, or on a Ray cluster) behind one Engine.

  placement   how many replicas and what each gets (GPUs, or a share of the cores); bad counts refused
  server      what runs inside a replica: the backend's engine, serving the driver's workflows
  handle      the driver's view of one replica: alive or not, what it did, its death reported once
  local       a spawned process per replica, over a pipe
  ray_replica a Ray actor per replica (`--ray_address`)
  engine      ReplicatedEngine: pins each problem to a replica, re-dispatches after a replica dies

The driver runs the agents, grades, and is the only writer of the journal; replicas only generate.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from ...models import ModelRef
from ..base import EngineOptions
from .engine import ReplicatedEngine
from .placement import local_slots, ray_count


def create_replicated(backend: str, model: ModelRef, options: EngineOptions, data_parallel: int | str,
                      ray_address: str | None = None, log: Callable[[str], None] | None = None) -> ReplicatedEngine:
    """Start every replica (in parallel: loading is the slow part) and wait until all are ready."""
    if ray_address:
        from .ray_replica import RayReplica, connect

        ray = connect(ray_address)
        count, gpus, cpus = ray_count(data_parallel, options, ray.cluster_resources())
        threads = None if gpus else 1
        replicas = [RayReplica(i, ray, backend, model, options, gpus, cpus, threads) for i in range(count)]
    else:
        from .local import LocalReplica

        replicas = [LocalReplica(i, backend, model, options, slot.env, slot.threads, slot.label)
                    for i, slot in enumerate(local_slots(data_parallel, options))]
    try:
        with ThreadPoolExecutor(max_workers=len(replicas)) as pool:
            for future in [pool.submit(replica.wait_ready) for replica in replicas]:
                future.result()
    except BaseException:
        for replica in replicas:
            replica.shutdown()
        raise
    engine = ReplicatedEngine(backend, replicas, log)
    where = ", ".join(f"{r.index}: {r.label}" + (f" pid {r.pid}" if hasattr(r, "pid") else "") for r in replicas)
    engine.log(f"{len(replicas)} {backend} replica(s) ready ({where})")
    return engine


__all__ = ["ReplicatedEngine", "create_replicated"]
