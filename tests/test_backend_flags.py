"""Backend flags on the command line reach only the backends they are for, and every backend starts
with the flags `matheval eval` passes it by default (a regression: native once rejected --api's default)."""

from __future__ import annotations

import pytest

from matheval.cli import backend_extra, build_parser, eval_config
from matheval.engines import EngineOptions
from matheval.engines.native.config import EngineConfig
from matheval.errors import UserError


def parsed(*flags: str):
    return build_parser().parse_args(["eval", *flags])


def test_unset_backend_flags_are_not_passed():
    assert backend_extra(parsed()) == {}
    given = parsed("--base_url", "http://x:1/v1", "--api", "completions", "--max_concurrency", "3",
                   "--tensor_parallel_size", "2", "--gpu_memory_utilization", "0.5", "--max_model_len", "4096")
    assert backend_extra(given) == {"base_url": "http://x:1/v1", "api": "completions", "max_concurrency": 3,
                                    "tensor_parallel_size": 2, "gpu_memory_utilization": 0.5, "max_model_len": 4096}


@pytest.mark.parametrize("flags", [(), ("--api", "chat", "--gpu_memory_utilization", "0.8", "--max_model_len", "512")])
def test_native_accepts_what_eval_passes_and_keeps_its_own(flags):
    """What run_eval builds for the engine: the CLI's backend flags."""
    config = eval_config(parsed("--inference_backend", "native", *flags))
    native = EngineConfig.from_options(EngineOptions(device="cpu", extra=dict(config.engine_extra)))
    assert native.max_model_len == (512 if flags else None)


def test_native_still_rejects_a_misspelt_option():
    with pytest.raises(UserError, match="unknown native-engine option"):
        EngineConfig.from_options(EngineOptions(device="cpu", extra={"max_num_seq": 4}))
