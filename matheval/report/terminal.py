"""`matheval compare`: the report's summary table in the terminal, one table per dataset.

Columns that hold one value for every row (the model, the backend) move into the table's title, so the
table fits a normal terminal.
"""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text

from .columns import CAPTION, COLUMNS, differing, settings_text
from .data import Config, by_dataset

FOLDED = ("model", "dataset", "backend")  # shown in the title when constant


def summary_tables(configs: list[Config]) -> list[Table]:
    return [dataset_table(dataset, group) for dataset, group in by_dataset(configs).items()]


def dataset_table(dataset: str, configs: list[Config]) -> Table:
    constant = {c.key: c.text(configs[0]) for c in COLUMNS
                if c.key in FOLDED and len({c.text(config) for config in configs}) == 1}
    sampled = {c.summary.num_samples for c in configs if c.summary.maj_at_n is not None}
    columns = [c for c in COLUMNS if c.key not in constant and (sampled or c.key not in ("maj", "pass", "avg"))]
    title = " · ".join(constant[key] for key in FOLDED if key in constant)
    table = Table(title=Text(title), caption=CAPTION,
                  box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, show_edge=False,
                  collapse_padding=True)
    for column in columns:
        heading = column.heading
        if column.key in ("maj", "pass", "avg") and len(sampled) == 1:  # one N for all: say it once, in the heading
            heading = f"{column.key}@{next(iter(sampled))}"
        if column.key == "label":  # the name says which configuration; never squeezed away
            table.add_column("configuration", no_wrap=True, min_width=min(30, max(len(c.name) for c in configs)))
        else:
            table.add_column(heading, justify="right" if column.numeric else "left", overflow="fold",
                             min_width=len(heading))
    keys = differing(configs)
    if keys:  # the settings that tell these rows apart (64 and 1,024 tokens are never side by side unlabelled)
        table.add_column("settings that differ", overflow="fold")
    for config in configs:
        cells = []
        for column in columns:
            text = config.name if column.key == "label" else column.text(config)
            if column.key in ("maj", "pass", "avg") and len(sampled) == 1:
                text = text.split(" (N=")[0]
            cells.append(Text(text))  # Text, not markup: names hold brackets
        if keys:
            cells.append(Text(settings_text(config, keys)))
        table.add_row(*cells, style=None if config.finished else "yellow")
    return table


def warnings(configs: list[Config]) -> list[str]:
    return [f"{c.dataset} / {c.name} ({c.folder.name}): {text}" for c in configs for text in c.warnings]
