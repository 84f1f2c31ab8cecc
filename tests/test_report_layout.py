"""The report's layout on crowded and awkward studies, checked on the drawn figures and in headless Chromium:
labels that fit inside the axes without overprinting, no sideways scrolling, unfinished runs off the
frontier, the flips baseline, one configuration without empty plots, and the settings that differ."""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from pathlib import Path

import pytest

from matheval.cli import main
from matheval.errors import UserError
from matheval.manifest import read_entry, update_entry
from matheval.report import load_configs, render
from matheval.report.data import reference_config
from matheval.report.page import frontier
from matheval.report.plots import cost_figure, text_box
from test_report import CHROMIUM, Chromium, needs_chromium

ROUNDS = ["baseline", "a-much-longer-round-name", "third", "fourth-round", "fifth", "sixth-with-a-long-name"]


def rescaled_copy(source: Path, root: Path, round_name: str, scale: float, finished: bool = True) -> Path:
    """A copy of a real run folder under another round, its costs scaled (a cheaper or dearer method at the
    same accuracy); `finished=False` leaves what a kill leaves: the journal only."""
    target = root / source.name.replace("t_", f"{round_name}_", 1)
    shutil.copytree(source, target)
    for path in (target / "answers").glob("*_answers.json*"):
        lines = path.read_text().splitlines()
        if path.suffix == ".json":
            records = [dict(r, completion_tokens=int(r["completion_tokens"] * scale),
                            engine_seconds=r["engine_seconds"] * scale) for r in json.loads(path.read_text())]
            path.write_text(json.dumps(records))
        else:
            header, rest = lines[0], [json.loads(line) for line in lines[1:]]
            rest = [dict(r, completion_tokens=int(r["completion_tokens"] * scale), engine_seconds=r["engine_seconds"] * scale)
                    for r in rest]
            path.write_text("\n".join([header] + [json.dumps(r) for r in rest[: None if finished else 2]]) + "\n")
    if not finished:
        for path in (target / "answers").glob("*_answers.json"):
            path.unlink()
    time.sleep(0.02)  # distinct write times: the newest finished run is the default baseline
    return target


@pytest.fixture(scope="module")
def crowd(tmp_path_factory, synthetic_results) -> Path:
    """Six configurations of one dataset at the same (low) accuracy and close costs, one of them unfinished."""
    root = tmp_path_factory.mktemp("crowd")
    source = Path(synthetic_results.paths.folder)
    for index, name in enumerate(ROUNDS):
        rescaled_copy(source, root, name, 1 + 0.08 * index, finished=name != "third")
    return root


def test_labels_fit_inside_the_axes_without_overprinting(crowd):
    configs = load_configs([crowd])
    figure, numbered = cost_figure(configs)
    renderer = figure.canvas.get_renderer()
    for ax in figure.axes:
        frame = ax.get_window_extent(renderer)
        boxes = [text_box(text, renderer) for text in ax.texts]  # the words, not their leader lines
        assert len(boxes) == len(configs)  # every point is named (by its label or its number)
        for box in boxes:
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
        for i, one in enumerate(boxes):
            assert not any(one.overlaps(other) for other in boxes[i + 1:])
    shown = {text.get_text() for ax in figure.axes for text in ax.texts}
    assert {c.name for c in configs} <= shown | {name for _, name in numbered}


def test_unfinished_runs_are_never_on_the_frontier_and_the_baseline_is_the_newest_finished(crowd):
    configs = load_configs([crowd])
    unfinished = [c for c in configs if not c.finished]
    assert len(unfinished) == 1 and "third" in unfinished[0].name
    # the unfinished copy is the cheapest by generated tokens after the baseline... it must still not be named
    for attribute in ("completion_tokens_per_problem", "engine_seconds_per_problem"):
        assert unfinished[0].name not in frontier(configs, attribute)
    newest = max((c for c in configs if c.finished), key=lambda c: c.written)
    assert reference_config(configs) is newest and "sixth" in newest.name
    chosen = reference_config(configs, configs[0].name)
    assert chosen is configs[0]
    with pytest.raises(UserError, match="--baseline 'nothing' is none of the configurations"):
        render(configs, baseline="nothing")


@needs_chromium
def test_page_fits_1400_and_1280_pixels_and_numbers_what_does_not_fit(crowd, tmp_path, synthetic_results):
    root = tmp_path / "awkward"
    shutil.copytree(crowd, root)
    [answers] = (next(p for p in root.iterdir() if p.name.startswith("baseline")) / "answers").glob("*.json")
    records = json.loads(answers.read_text())
    records[0]["extracted"] = "x" * 400  # one long unbroken answer: it must wrap, not widen the page
    records[0]["response"] = "y" * 3000
    answers.write_text(json.dumps(records))
    output = root / "report.html"
    assert main(["report", str(root), "-o", str(output), "--baseline", configs_name(root, "fifth")]) == 0
    browser = Chromium(tmp_path / "profile")
    try:
        for width in (1400, 1280):
            browser.open(output)
            browser.call("Emulation.setDeviceMetricsOverride", width=width, height=1200, deviceScaleFactor=1,
                         mobile=False)
            assert browser.evaluate("document.documentElement.scrollWidth") <= width
        text = browser.evaluate("document.querySelector('#flips').nextElementSibling.nextElementSibling.textContent")
        assert "fifth" in text  # the chosen baseline
        assert browser.evaluate("document.querySelectorAll('figure[data-plot=cost]').length") == 1
        assert browser.errors == []
    finally:
        browser.close()


def configs_name(root: Path, round_part: str) -> str:
    return next(c.name for c in load_configs([root]) if round_part in c.name)


def test_one_configuration_gets_a_sentence_not_two_empty_plots(synthetic_results, tmp_path):
    page = render(load_configs([synthetic_results.paths.folder]))
    assert 'data-plot="cost"' not in page
    assert "One configuration on synthetic (standard)" in page and "The plot needs two or more" in page


def test_compare_shows_the_settings_that_differ_and_exports_them(synthetic_results, tmp_path, capsys):
    """Two runs that differ only in --max_new_tokens (as recorded in their manifests) and in batch size `auto`
    resolved: compare names both settings, and --json/--csv carry every setting."""
    source = Path(synthetic_results.paths.folder)
    root = tmp_path / "two"
    shutil.copytree(source, root / source.name)
    other = root / source.name.replace("t_", "u_", 1)
    shutil.copytree(source, other)
    stem = synthetic_results.paths.stem
    entry = read_entry(other, stem)
    assert entry["settings"]["max_new_tokens"] == 48 and entry["resolved"]["batch_size"] == 4
    update_entry(other, stem, {"settings": dict(entry["settings"], max_new_tokens=64, batch_size="auto"),
                               "resolved": dict(entry["resolved"], batch_size=16)})
    assert main(["compare", str(root)]) == 0
    out = capsys.readouterr().out
    assert "settings that differ" in out
    assert "max_new_tokens 48" in out and "max_new_tokens 64" in out and "batch_size auto (16)" in out
    assert main(["compare", str(root), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["settings"]["max_new_tokens"] for r in rows) == [48, 64]
    assert all(r["settings"]["temperature"] == 0.0 and r["settings"]["inference_backend"] == "transformers" for r in rows)
    assert main(["compare", str(root), "--csv"]) == 0
    table = list(csv.reader(io.StringIO(capsys.readouterr().out)))  # prompt settings hold quoted newlines
    header = table[0]
    assert "accuracy" in header and "setting.max_new_tokens" in header and len(table) == 3
    assert table[1][header.index("setting.user_prompt")].endswith("within \\boxed{}.")
    if CHROMIUM is None:
        return
    page = render(load_configs([root]))
    assert "max_new_tokens 64" in page and "settings that differ" in page
