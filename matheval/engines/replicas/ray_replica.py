"""Replicas on a Ray cluster: each one an actor holding an engine, placed by Ray on a node with the GPUs
(or CPUs) it asks for. The driver keeps the journal; actors only generate. An actor that dies (its node
lost, out of memory, killed) fails its calls with ReplicaLost, like a local replica.

Needs `pip install 'matheval[ray]'` on the driver and matheval installed on every node.
"""

from __future__ import annotations

import os
import socket

from ...errors import UserError
from ...models import ModelRef
from ..base import Completion, EngineOptions, Messages, ReplicaLost, Sampling
from .handle import ReplicaHandle

INSTALL_HINT = "--ray_address needs Ray: pip install 'matheval[ray]'"


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    return ray


def connect(address: str):
    """ray.init on an existing cluster, failing fast and in one line when nothing answers there."""
    ray = import_ray()
    if address != "auto":
        host_port = address.removeprefix("ray://")
        host, _, port = host_port.rpartition(":")
        try:
            socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
        except (OSError, ValueError):
            raise UserError(f"no Ray cluster answers at {address}: start one with `ray start --head` (see "
                            "docs/scaling.md) or fix --ray_address") from None
    if not ray.is_initialized():
        try:
            ray.init(address=address, logging_level="ERROR", log_to_driver=False,
                     runtime_env={"env_vars": {"TOKENIZERS_PARALLELISM": "false"}})
        except (ConnectionError, RuntimeError) as exc:
            raise UserError(f"could not join the Ray cluster at {address} ({str(exc).splitlines()[0][:160]}): "
                            "start one with `ray start --head`, or fix --ray_address") from None
    return ray


class _Actor:
    """The actor's body (made a Ray actor class by `actor_class`): a ReplicaServer on Ray's event loop."""

    def __init__(self, backend: str, model: ModelRef, options: EngineOptions, threads: int | None):
        from .server import ReplicaServer, apply_threads

        apply_threads(threads)
        self.server = ReplicaServer(backend, model, options)

    def where(self) -> str:
        return f"{socket.gethostname()} pid {os.getpid()}"

    async def open(self, workflow: int) -> None:
        self.server.open(workflow)

    async def close(self, workflow: int) -> None:
        self.server.close(workflow)

    async def generate(self, workflow: int, messages: Messages, sampling: Sampling):
        completion = await self.server.generate(workflow, messages, sampling)
        return completion, self.server.stats()

    async def stop(self) -> None:
        self.server.shutdown()


def actor_class(ray):
    return ray.remote(max_restarts=0, max_task_retries=0)(_Actor)


class RayReplica(ReplicaHandle):
    def __init__(self, index: int, ray, backend: str, model: ModelRef, options: EngineOptions,
                 gpus: int, cpus: int, threads: int | None):
        super().__init__(index, f"ray actor {index}")
        self.ray = ray
        resources = {"num_gpus": gpus, "num_cpus": cpus}
        self.actor = actor_class(ray).options(max_concurrency=10_000, **resources).remote(
            backend, model, options, threads)

    def wait_ready(self) -> None:
        try:
            self.label = f"ray: {self.ray.get(self.actor.where.remote())}"
        except self.ray.exceptions.RayError as exc:
            raise UserError(f"replica {self.index} could not start on the Ray cluster: {_reason(exc)}") from None

    def open(self, workflow: int) -> None:
        self.actor.open.remote(workflow)

    def close(self, workflow: int) -> None:
        self.actor.close.remote(workflow)

    async def send_generate(self, workflow: int, messages: Messages, sampling: Sampling) -> tuple[Completion, dict]:
        try:
            return await self.actor.generate.remote(workflow, messages, sampling)
        except self.ray.exceptions.RayActorError as exc:
            self.lost(_reason(exc))
            raise ReplicaLost(f"replica {self.index} died") from None
        except self.ray.exceptions.RayTaskError as exc:
            cause = exc.cause if isinstance(getattr(exc, "cause", None), Exception) else None
            if isinstance(cause, UserError):
                raise UserError(str(cause)) from None
            raise RuntimeError(f"replica {self.index}: {_reason(exc)}") from None

    def shutdown(self) -> None:
        if self.alive:
            try:
                self.ray.get(self.actor.stop.remote(), timeout=30)
            except Exception:  # noqa: BLE001 - an actor already gone needs no stopping
                pass
            self.ray.kill(self.actor)
        self.alive = False


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__
