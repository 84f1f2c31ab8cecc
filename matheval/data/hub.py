"""Fetching benchmark rows from the Hugging Face hub with `datasets.load_dataset`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .. import network
from ..errors import UserError


@dataclass(frozen=True)
class HubSource:
    """Where a benchmark lives on the hub.

    `splits` maps our split names ("test", "train") to the hub's (AIME 2024 keeps its 30 problems
    in "train"). `configs` are loaded in order and concatenated (full MATH has one per subject).
    `convert` replaces the dataset's record converter when the hub's columns differ from the
    local files'.
    """

    repo: str
    splits: dict[str, str] = field(default_factory=lambda: {"test": "test"})
    configs: tuple[str | None, ...] = (None,)
    convert: Callable | None = None


def _reason(exc: BaseException) -> str:
    first_line = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__


def fetch_rows(name: str, source: HubSource, split: str, layout: str) -> list[tuple[str, dict]]:
    """All rows of `split`, each with a label for error messages ("repo [config] split row 3")."""
    hub_split = source.splits.get(split)
    if hub_split is None:
        known = ", ".join(sorted(source.splits))
        raise UserError(f"{name} has no '{split}' split on the hub (it has: {known})")
    hint = f"pass --data_dir with local files (layout: {layout})"
    try:
        import datasets
    except ImportError as exc:
        raise UserError(f"loading {name} from the hub needs the 'datasets' package; {hint}") from exc
    online = network.use_hub()  # unreachable or HF_HUB_OFFLINE: the local cache only, no retries
    rows: list[tuple[str, dict]] = []
    for config in source.configs:
        where = source.repo if config is None else f"{source.repo} [{config}]"
        try:
            table = datasets.load_dataset(source.repo, config, split=hub_split)
        except Exception as exc:  # offline, unknown id, gated repo, bad config: all user-fixable
            if not online:
                raise UserError(f"could not load {name} from the hub ({where}): not in the local datasets cache, "
                                f"and {network.offline_reason()}; {hint}") from exc
            raise UserError(f"could not load {name} from the hub ({where}: {_reason(exc)}); {hint}") from exc
        rows.extend((f"{where} {hub_split} row {i}", dict(row)) for i, row in enumerate(table))
    return rows
