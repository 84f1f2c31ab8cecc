"""The import rule of docs/architecture.md, checked on the source: layers import only the layers below
them, agents see only the engine interface, backends never import each other, and the seed's folders use
matheval's public API only."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "matheval"
# docs/architecture.md's table, lowest first: a module may import only what comes before it.
LAYERS = ["errors", "network", "threads", "models", "data", "grading", "sandbox", "metrics", "anchors", "interrupt",
          "engines", "presets", "prompts", "results", "manifest", "generation", "agents", "graded_samples", "runner",
          "progress", "session", "protocol", "evaluate", "api", "report", "regrade", "check", "bench", "config_file",
          "cli", "__main__"]
BACKEND_MODULES = {"transformers_engine", "continuous_engine", "native", "vllm_engine", "openai_engine"}
PUBLIC = {"matheval", "matheval.cli", "matheval.check"}


def imports(path: Path) -> list[str]:
    """Dotted names of the matheval modules a file imports (relative imports resolved)."""
    package = ["matheval", *path.relative_to(PACKAGE).parent.parts] if PACKAGE in path.parents else []
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] == "matheval"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                found += [module] if node.module else [f"{module}.{alias.name}" for alias in node.names]
            elif node.module and node.module.split(".")[0] == "matheval":
                found.append(node.module)
    return found


def unit(dotted: str) -> str:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "matheval"


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_layers_import_only_the_layers_below():
    wrong = []
    for path in sources():
        own = unit("matheval." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
        if own == "__init__":
            continue
        for target in imports(path):
            other = unit(target)
            if other in (own, "matheval", "__version__"):  # the package itself only lends its version
                continue
            if LAYERS.index(other) > LAYERS.index(own):
                wrong.append(f"{path.relative_to(REPO)} imports {target}")
    assert not wrong, wrong


def test_agents_see_only_the_engine_interface():
    for path in (PACKAGE / "agents").glob("*.py"):
        engine_imports = [t for t in imports(path) if unit(t) == "engines"]
        assert all(t in ("matheval.engines", "matheval.engines.base") for t in engine_imports), (path, engine_imports)


def test_backends_never_import_each_other():
    for path in (PACKAGE / "engines").rglob("*.py"):
        parts = path.relative_to(PACKAGE / "engines").with_suffix("").parts
        own = parts[0]
        if own not in BACKEND_MODULES:
            continue
        borrowed = [t for t in imports(path) if t.split(".")[2:3] and t.split(".")[2] in BACKEND_MODULES - {own}]
        assert not borrowed, (path, borrowed)


def test_the_seed_folders_use_the_public_api():
    for folder in ("evaluation", "models"):
        for path in (REPO / folder).glob("*.py"):
            private = [t for t in imports(path) if t.split(".")[0] == "matheval" and t not in PUBLIC]
            assert not private, (path, private)
