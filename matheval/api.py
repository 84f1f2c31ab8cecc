"""The Python API: `matheval.evaluate(...)`, one call with the CLI's flags as keywords.

The CLI is a parser in front of these functions, so a notebook and a shell command that name the same
settings run exactly the same evaluation (and resume the same result folder).

    import matheval
    result = matheval.evaluate("smollm2-135m", "gsm8k", data_dir="../shared/data", count=20, batch_size=8)
    result.metrics["accuracy"], result.records[0]["response"], result.folder

    with matheval.load("smollm2-135m", batch_size=8) as session:     # one model load for many evaluations
        results = matheval.evaluate_datasets(["gsm8k", "math500"], engine=session, data_dir="../shared/data",
                                             count=20)

Generation settings left out (None) come from the preset: `preset`, else the one the model's authors
published (models.MODEL_PRESETS), else matheval's own; every preset field can be given here instead.
"""

from __future__ import annotations

from .agents.base import AgentParams
from .agents.budget_forcing import auto_budgets
from .data import FieldMap, split_datasets
from .engines import resolve_model
from .errors import UserError
from .evaluate import EvalConfig, Outcome, execute, prepare, run_eval, session_for
from .generation import GenerationSettings
from .models import DEFAULT_MODEL, preset_for
from .presets import DEFAULT_PRESET, Preset, get_preset
from .prompts import DEFAULT_FEWSHOT_K
from .session import Session, load

AGENT_WIDTH = 4  # --num_runs of an agent when not given (the plain evaluation takes one answer)
# what a session decides for every evaluation run on it (evaluate takes them from the session)
SESSION_KEYWORDS = ("batch_size", "device", "dtype", "threads", "engine_options", "data_parallel", "ray_address")
DIVERSE_DEFAULTS = (0.7, 0.95)  # sample_temperature / sample_top_p when the preset itself is greedy
SAMPLED_BATCH = 64  # rows per static batch of a sampled run when --batch_size is not given (at least 16, N)


def evaluate(model: str | None = None, dataset: str = "synthetic", *, agent: str = "standard",
             mode: str = "standard", round: str = "run", count: int | None = None,
             backend: str | None = None, batch_size: int | str | None = None, data_dir: str | None = None,
             results_dir: str = "results", seed: int = 0, detailed: bool = False, concurrency: int | None = None,
             fewshot_k: int = DEFAULT_FEWSHOT_K, device: str | None = None, dtype: str | None = None,
             progress: bool = True, preset: str | None = None, max_new_tokens: int | None = None,
             temperature: float | None = None, top_p: float | None = None, top_k: int | None = None,
             system_prompt: str | None = None, user_prompt: str | None = None, prefill: str | None = None,
             thinking: bool | None = None, answer_cue: str | None = None, num_samples: int = 1,
             budgets: str | tuple[int, ...] | list[int] | None = None, pass_k: tuple[int, ...] | None = None,
             sample_temperature: float | None = None, sample_top_p: float | None = None,
             num_runs: int | None = None, max_iters: int = 3, rounds: int = 2, beam_width: int = 2,
             expansions: int = 3, max_depth: int = 8, max_calls: int = 4, verifier: str | None = None,
             engine_options: dict | None = None, threads: int | None = None, limit: int | None = None,
             sample_seed: int | None = None, question_field: str | None = None, answer_field: str | None = None,
             id_field: str | None = None, command: str | None = None, data_parallel: int | str | None = None,
             ray_address: str | None = None, grader: str = "matheval", engine: Session | None = None) -> Outcome:
    """Evaluate `model` on `dataset` (with `agent`), write the seed's result files, return the outcome:
    `.metrics` (the metrics.csv row), `.summary`, `.records` (one dict per problem and run), `.folder`.

    Keywords are the CLI's flags (`backend` is --inference_backend; `engine_options` holds backend flags
    such as base_url or max_model_len, and --engine_args; `grader` who decides correctness (docs/grading.md);
    `data_parallel` and `ray_address` spread the work over engine replicas; `num_samples` draws N samples per
    problem for avg@N / pass@k / cons@k; `budgets` is "auto", "off" or token budgets for the budget curve).
    `dataset` is a benchmark name or a file of problems. `engine=matheval.load(...)` runs on a model that is
    already loaded and leaves it loaded. Rerunning the same call resumes the same folder, at any `data_parallel`."""
    settings = dict(locals())
    session = settings.pop("engine")
    if len(split_datasets(dataset)) > 1:
        raise UserError(f"evaluate takes one dataset, got {dataset!r}: use matheval.evaluate_datasets for several")
    return run_eval(eval_config(**with_session(settings, session)), session)


def evaluate_datasets(datasets: list[str] | str, model: str | None = None, *, engine: Session | None = None,
                      **settings) -> list[Outcome]:
    """`evaluate` on each dataset in turn with one model load (`--dataset gsm8k,math500,aime25`). Every
    dataset is checked (names, files, counts) before the model loads; each keeps its own results folder."""
    names = split_datasets(",".join(datasets) if isinstance(datasets, (list, tuple)) else datasets)
    if len(set(names)) < len(names):
        raise UserError(f"--dataset names {', '.join(n for n in names if names.count(n) > 1)} twice")
    settings = with_session(dict(settings, model=model), engine)
    prepared = [prepare(eval_config(**dict(settings, dataset=name))) for name in names]
    session = engine or session_for(prepared[0])
    try:
        return [execute(each, session) for each in prepared]
    finally:
        if engine is None:
            session.close()


def with_session(settings: dict, session: Session | None) -> dict:
    """The keywords with the session's model, backend and engine settings filled in (without a session,
    eval_config fills in the defaults)."""
    settings = dict(settings)
    if session is None:
        return settings
    if settings.get("backend") not in (None, session.backend):
        raise UserError(f"engine= runs the {session.backend} backend, not {settings['backend']}: load another session")
    if settings.get("model") not in (None, session.model_name, session.model.display):
        raise UserError(f"engine= holds {session.model.display}, not {settings['model']}: load that model, or "
                        "leave model unset")
    given = [key for key in SESSION_KEYWORDS if settings.get(key) not in (None, {})]
    if given:
        raise UserError(f"{', '.join(given)}: the session decides these (pass them to matheval.load)")
    options = session.options
    settings.update(model=session.model_name, backend=session.backend, batch_size=options.batch_size,
                    device=options.device, dtype=options.dtype, threads=session.threads,
                    engine_options=dict(options.extra), data_parallel=session.data_parallel,
                    ray_address=session.ray_address, in_session=True)
    return settings


def resolve_preset(model: str, backend: str, name: str | None, **fields) -> Preset:
    """The run's preset: the one named, else the model's, else matheval's; with the fields given."""
    if name is None:
        name = preset_for(resolve_model(backend, model)) or DEFAULT_PRESET
    return get_preset(name).override(**fields)


def resolve_budgets(budgets, preset: Preset, agent: str, cap: int) -> tuple[int, ...]:
    """The budget curve's budgets: "auto" (1k, 2k, ... the cap), "off", a list; None: auto for a reasoning
    preset's plain evaluation, else none."""
    if budgets is None:
        return auto_budgets(cap) if preset.reasoning and agent == "standard" else ()
    if isinstance(budgets, str):
        if budgets == "off":
            return ()
        if budgets != "auto":
            raise UserError(f"--budgets takes auto, off or a comma list of token budgets, got {budgets!r}")
        chosen = auto_budgets(cap)
    else:
        chosen = tuple(sorted(set(budgets)))
    if chosen and agent != "standard":
        raise UserError("--budgets draws the budget curve of the plain evaluation (matheval eval): drop it here")
    return chosen


def eval_config(model: str = DEFAULT_MODEL, dataset: str = "synthetic", *, agent: str = "standard",
                backend: str | None = "transformers", preset: str | None = None, max_new_tokens: int | None = None,
                temperature: float | None = None, top_p: float | None = None, top_k: int | None = None,
                system_prompt: str | None = None, user_prompt: str | None = None, prefill: str | None = None,
                thinking: bool | None = None, answer_cue: str | None = None, num_samples: int = 1,
                budgets=None, pass_k: tuple[int, ...] | None = None, sample_temperature: float | None = None,
                sample_top_p: float | None = None, num_runs: int | None = None, max_iters: int = 3,
                rounds: int = 2, beam_width: int = 2, expansions: int = 3, max_depth: int = 8, max_calls: int = 4,
                verifier: str | None = None, engine_options: dict | None = None, question_field: str | None = None,
                answer_field: str | None = None, id_field: str | None = None, in_session: bool = False,
                **settings) -> EvalConfig:
    """The validated EvalConfig of `evaluate`'s keywords (the generation settings check themselves here)."""
    model, backend = model or DEFAULT_MODEL, backend or "transformers"
    if agent != "standard" and num_samples != 1:
        raise UserError("--num_samples is the plain evaluation's (matheval eval); an agent's width is --num_runs")
    chosen = resolve_preset(model, backend, preset, system=system_prompt, user=user_prompt, prefill=prefill,
                            thinking=thinking, answer_cue=answer_cue, temperature=temperature, top_p=top_p,
                            top_k=top_k, max_new_tokens=max_new_tokens)
    diverse = (chosen.temperature, chosen.top_p) if chosen.temperature > 0 else DIVERSE_DEFAULTS
    generation = GenerationSettings(
        max_new_tokens=chosen.max_new_tokens, temperature=chosen.temperature, top_p=chosen.top_p, top_k=chosen.top_k,
        sample_temperature=diverse[0] if sample_temperature is None else sample_temperature,
        sample_top_p=diverse[1] if sample_top_p is None else sample_top_p)
    width = num_runs if num_runs is not None else (1 if agent == "standard" else AGENT_WIDTH)
    params = AgentParams(num_runs=width, generation=generation, preset=chosen, num_samples=num_samples,
                         budgets=resolve_budgets(budgets, chosen, agent, generation.max_new_tokens),
                         max_iters=max_iters, rounds=rounds, beam_width=beam_width, expansions=expansions,
                         max_depth=max_depth, max_calls=max_calls, verifier=verifier)
    params.check()
    if settings.get("batch_size") is None and backend == "transformers" and num_samples > 1 and not in_session:
        settings["batch_size"] = min(max(num_samples, 16), SAMPLED_BATCH)  # a request's samples share one batch
    given = {name for name, value in (("temperature", temperature), ("top_p", top_p), ("top_k", top_k)) if value is not None}
    fields = FieldMap(question_field, answer_field, id_field)
    return EvalConfig(model=model, dataset=dataset, agent=agent, params=params, backend=backend, engine_extra=dict(engine_options or {}), pass_k=pass_k,
                      sampling_flags=given, dataset_fields=fields if fields.given else None, **settings)


__all__ = ["evaluate", "evaluate_datasets", "eval_config", "load", "Session"]
