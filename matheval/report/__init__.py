"""Reports of result folders: one self-contained HTML page, or the summary table in the terminal.

    load_configs(paths)            -> list[Config]   every configuration under results roots or run folders
    write_report(paths, output)    -> Path           the HTML page, written atomically
    render(configs)                -> str            the page as a string
    summary_tables(configs)        -> rich Tables    what `matheval compare` prints (one per dataset)
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..errors import UserError
from ..results import write_atomic
from .data import Config, load_configs
from .page import render
from .terminal import summary_tables, warnings

DEFAULT_NAME = "report.html"


def default_output(paths: list[str | Path]) -> Path:
    """Beside the results: <first RESULTS_DIR>/report.html."""
    return Path(paths[0]) / DEFAULT_NAME


def write_report(paths: Iterable[str | Path], output: str | Path | None = None,
                 baseline: str | None = None) -> tuple[Path, list[Config]]:
    paths = list(paths)
    configs = load_configs(paths)
    target = Path(output) if output else default_output(paths)
    if target.is_dir():
        target = target / DEFAULT_NAME
    page = render(configs, baseline=baseline)
    try:
        write_atomic(target, page)
    except OSError as exc:
        raise UserError(f"cannot write the report to {target} ({exc.strerror or exc}): choose another -o") from exc
    return target, configs


__all__ = ["Config", "load_configs", "render", "summary_tables", "warnings", "write_report", "default_output"]
