"""matheval: evaluate math-reasoning models and inference-time agents, fast and reproducibly.

The public Python API (imported on first use, so `import matheval` stays light):
- `matheval.evaluate(model, dataset, ...)`: one evaluation, the CLI's flags as keywords (matheval.api);
- `matheval.SyncEngine(backend, model, ...)`: generate from scripts, `.generate(prompts) -> texts`;
- `matheval.GenerationSettings`: the validated sampling settings of a run;
- `matheval.UserError`: what bad input raises (one line that says what to do); `matheval.DEFAULT_MODEL`.
"""

__version__ = "0.1.0"

_EXPORTS = {"evaluate": "api", "eval_config": "api", "SyncEngine": "engines.sync",
            "GenerationSettings": "generation", "UserError": "errors", "DEFAULT_MODEL": "models"}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value  # bound once: importing matheval.evaluate (the module) must not shadow the function
        return value
    raise AttributeError(f"module 'matheval' has no attribute {name!r}")


__all__ = ["DEFAULT_MODEL", "GenerationSettings", "SyncEngine", "UserError", "__version__", "eval_config", "evaluate"]
