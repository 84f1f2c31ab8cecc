"""A real OpenAI-compatible server for the openai backend's tests: `transformers serve` on 127.0.0.1.

It serves the converted SmolLM2 folder on CPU (transformers serve cannot read our packaged GGUF
path, so the folder from `matheval.models.resolve` is what it gets). The process can be killed and
restarted on the same port, which is how the fault tests take the server away mid-run.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_available() -> bool:
    from transformers.utils.import_utils import is_serve_available

    return is_serve_available()


class TransformersServer:
    """`transformers serve MODEL_FOLDER --host 127.0.0.1 --port PORT --device cpu` as a child process."""

    def __init__(self, model_path: str, log_path: Path, port: int | None = None, extra_args: tuple[str, ...] = (),
                 threads: int = 1):
        self.model_path = model_path
        self.threads = threads  # one by default: the test process computes on the same 2 cores
        self.extra_args = list(extra_args)
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        entry = "from transformers.cli.transformers import main; main()"
        return [sys.executable, "-c", entry, "serve", self.model_path, "--host", "127.0.0.1",
                "--port", str(self.port), "--device", "cpu", "--dtype", "float32", *self.extra_args]

    def start(self, timeout: float = 180) -> None:
        env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_DISABLE_UPDATE_CHECK="1", OMP_NUM_THREADS=str(self.threads),
                   TOKENIZERS_PARALLELISM="false")
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.kill()
        raise RuntimeError(f"transformers serve did not become healthy in {timeout}s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL, like a crash or an OOM kill: connections drop mid-request."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None
