"""The sandbox's API: a pool of warm workers that agents await, a one-off runner, and the layer probe."""

from __future__ import annotations

import os

from ..errors import UserError
from .client import ZygoteClient
from .records import DEFAULT_PRELOAD, LAYERS, SandboxLimits, SandboxResult

def run_python(code: str, limits: SandboxLimits | None = None) -> SandboxResult:
    """Run one program in a fresh interpreter (no pre-imported modules) and wait for it.

    Each call starts its own zygote, so it pays the interpreter's start-up; agents that run many
    programs should use SandboxPool instead."""
    client = ZygoteClient(workers=1, preload=())
    try:
        return client.submit(code, limits or SandboxLimits()).future.result()
    finally:
        client.close()


class SandboxPool:
    """Runs programs concurrently (at most `workers` at a time), each in a fresh fork of one warm zygote.

    The zygote starts (and imports `preload`) when the pool is created. `run` never blocks the event
    loop; it can be awaited from any number of tasks, and from any event loop or thread. It never raises
    because of what a program does: every failure is a result with an `error`."""

    def __init__(self, workers: int | None = None, limits: SandboxLimits | None = None,
                 preload: tuple[str, ...] = DEFAULT_PRELOAD):
        workers = workers if workers is not None else max(2, os.cpu_count() or 2)
        if not isinstance(workers, int) or workers < 1:
            raise UserError(f"SandboxPool workers must be a positive integer (got {workers!r})")
        self.workers = workers
        self.limits = (limits or SandboxLimits()).checked()
        self._client = ZygoteClient(workers=workers, preload=tuple(preload))

    async def run(self, code: str, limits: SandboxLimits | None = None) -> SandboxResult:
        import asyncio  # here, not at the top: the zygote imports this package and must start fast

        job = self._client.submit(code, limits or self.limits)
        try:
            return await asyncio.wrap_future(job.future)
        except asyncio.CancelledError:
            self._client.cancel(job.id)
            raise

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    async def __aenter__(self) -> SandboxPool:
        return self

    async def __aexit__(self, *exc) -> None:
        self.close()


_capabilities: dict[str, bool] | None = None


def sandbox_capabilities() -> dict[str, bool]:
    """Which isolation layers are active on this machine (probed once by running an empty program)."""
    global _capabilities
    if _capabilities is None:
        client = ZygoteClient(workers=1, preload=())
        try:
            job = client.submit("pass", SandboxLimits())
            result = job.future.result()
            if not result.ok:
                raise RuntimeError(f"sandbox probe failed: {result.error}\n{result.stderr}")
            _capabilities = {name: bool(job.layers.get(name)) for name in LAYERS}
        finally:
            client.close()
    return dict(_capabilities)
