"""The Python API: `matheval.evaluate(...)`, one call with the CLI's flags as keywords.

The CLI is a parser in front of this function, so a notebook and a shell command that name the same
settings run exactly the same evaluation (and resume the same result folder).

    import matheval
    result = matheval.evaluate("smollm2-135m", "gsm8k", data_dir="../shared/data", count=20, batch_size=8)
    result.metrics["accuracy"], result.records[0]["response"], result.folder
"""

from __future__ import annotations

from .agents.base import AgentParams
from .engines.base import DEFAULT_MAX_NEW_TOKENS
from .evaluate import EvalConfig, Outcome, run_eval
from .generation import GenerationSettings
from .models import DEFAULT_MODEL
from .prompts import DEFAULT_FEWSHOT_K

AGENT_WIDTH = 4  # --num_runs of an agent when not given (the plain evaluation takes one answer)


def evaluate(model: str = DEFAULT_MODEL, dataset: str = "synthetic", *, agent: str = "standard",
             mode: str = "standard", round: str = "run", count: int | None = None,
             backend: str = "transformers", batch_size: int | str | None = None, data_dir: str | None = None,
             results_dir: str = "results", seed: int = 0, detailed: bool = False, concurrency: int | None = None,
             fewshot_k: int = DEFAULT_FEWSHOT_K, device: str | None = None, dtype: str | None = None,
             progress: bool = True, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, temperature: float = 0.0,
             top_p: float = 1.0, sample_temperature: float = 0.7, sample_top_p: float = 0.95,
             num_runs: int | None = None, max_iters: int = 3, rounds: int = 2, beam_width: int = 2,
             expansions: int = 3, max_depth: int = 8, max_calls: int = 4, verifier: str | None = None,
             engine_options: dict | None = None, data_parallel: int | str | None = None,
             ray_address: str | None = None, grader: str = "matheval") -> Outcome:
    """Evaluate `model` on `dataset` (with `agent`), write the seed's result files, return the outcome:
    `.metrics` (the metrics.csv row), `.summary`, `.records` (one dict per problem and run), `.folder`.

    Keywords are the CLI's flags (`backend` is --inference_backend; `engine_options` holds backend flags
    such as base_url or max_model_len; `data_parallel` and `ray_address` spread the work over engine replicas).
    Rerunning the same call resumes the same folder, at any `data_parallel`."""
    return run_eval(eval_config(**locals()))


def eval_config(model: str = DEFAULT_MODEL, dataset: str = "synthetic", *, agent: str = "standard",
                num_runs: int | None = None, max_iters: int = 3, rounds: int = 2, beam_width: int = 2,
                expansions: int = 3, max_depth: int = 8, max_calls: int = 4, verifier: str | None = None,
                max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, temperature: float = 0.0, top_p: float = 1.0,
                sample_temperature: float = 0.7, sample_top_p: float = 0.95, engine_options: dict | None = None,
                **settings) -> EvalConfig:
    """The validated EvalConfig of `evaluate`'s keywords (the generation settings check themselves here)."""
    generation = GenerationSettings(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                                    sample_temperature=sample_temperature, sample_top_p=sample_top_p)
    width = num_runs if num_runs is not None else (1 if agent == "standard" else AGENT_WIDTH)
    params = AgentParams(num_runs=width, generation=generation, max_iters=max_iters, rounds=rounds,
                         beam_width=beam_width, expansions=expansions, max_depth=max_depth, max_calls=max_calls,
                         verifier=verifier)
    return EvalConfig(model=model, dataset=dataset, agent=agent, params=params,
                      engine_extra=dict(engine_options or {}), **settings)
