"""matheval: evaluate math-reasoning models and inference-time agents, fast and reproducibly.

The public Python API (imported on first use, so `import matheval` stays light):
- `matheval.evaluate(model, dataset, ...)`: one evaluation, the CLI's flags as keywords (matheval.api);
- `matheval.evaluate_datasets([...], ...)`: several datasets with one model load;
- `matheval.load(model, ...)`: a `Session` that keeps the model loaded, for `evaluate(..., engine=session)`;
- `matheval.read_manifest(run_folder)`: every setting of each configuration in a run folder;
- `matheval.SyncEngine(backend, model, ...)`: generate from scripts, `.generate(prompts) -> texts`;
- `matheval.GenerationSettings`: the validated sampling settings of a run;
- `matheval.UserError`: what bad input raises (one line that says what to do); `matheval.DEFAULT_MODEL`.
"""

__version__ = "0.1.0"

_EXPORTS = {"evaluate": "api", "eval_config": "api", "evaluate_datasets": "api", "load": "session",
            "Session": "session", "read_manifest": "manifest", "SyncEngine": "engines.sync",
            "GenerationSettings": "generation", "UserError": "errors", "DEFAULT_MODEL": "models"}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value  # bound once: importing matheval.evaluate (the module) must not shadow the function
        return value
    raise AttributeError(f"module 'matheval' has no attribute {name!r}")


__all__ = ["DEFAULT_MODEL", "GenerationSettings", "Session", "SyncEngine", "UserError", "__version__", "eval_config",
           "evaluate", "evaluate_datasets", "load", "read_manifest"]


class _Package(__import__("types").ModuleType):
    """`matheval.evaluate` is the function, always: importing the submodule `matheval.evaluate` (which sets
    the package attribute of that name to the module) must not hide the public API's function."""

    @property
    def evaluate(self):
        from .api import evaluate

        return evaluate

    @evaluate.setter
    def evaluate(self, module) -> None:  # the import system records the submodule here; sys.modules has it
        pass


__import__("sys").modules[__name__].__class__ = _Package
