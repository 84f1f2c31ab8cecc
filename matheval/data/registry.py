"""The benchmark registry: each name's local layout, hub source, converter and few-shot source.

Where problems come from: the `data_dir` argument, else the MATHEVAL_DATA_DIR environment variable,
else the Hugging Face hub. Local layout (as in the shared data folder):

    <data_dir>/gsm8k/test.jsonl, gsm8k/train.jsonl
    <data_dir>/math500/test.jsonl
    <data_dir>/qwen25math/<name>/test.jsonl     (the Qwen2.5-Math evaluation files)

`synthetic` is generated in memory and ignores both.
"""

from __future__ import annotations

import dataclasses
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import UserError
from . import files, records, synthetic
from .examples import BUILTIN_EXAMPLES
from .hub import HubSource, fetch_rows
from .local import read_jsonl
from .problem import Problem

DATA_DIR_ENV = "MATHEVAL_DATA_DIR"
FEWSHOT_SEED = 1234
MAX_EXAMPLE_SOLUTION_CHARS = 1200  # long worked solutions crowd a small model's context


@dataclass(frozen=True)
class DatasetSpec:
    """One benchmark.

    `local` lists file patterns under the data folder, tried in order ("{split}" is replaced).
    `examples_from` names the dataset whose train split supplies few-shot examples (MATH-500 uses
    MATH's); when that split is not at hand, the built-in examples of `style` are used.
    `generate` marks a built-in dataset (synthetic): (count, split) -> problems.
    """

    name: str
    description: str
    convert: Callable[[dict, int], Problem | None]
    local: tuple[str, ...] = ()
    hub: HubSource | None = None
    examples_from: str | None = None
    style: str = "competition"
    size: int | None = None
    generate: Callable[[int | None, str], list[Problem]] | None = None

    def layout(self, split: str = "test") -> str:
        return f"<data_dir>/{self.local[0].format(split=split)}" if self.local else "none"


def _qwen(name: str) -> tuple[str, ...]:
    return (f"qwen25math/{name}/{{split}}.jsonl", f"{name}/{{split}}.jsonl")


MATH_SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra",
                 "number_theory", "prealgebra", "precalculus")

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "gsm8k", "GSM8K grade-school word problems", records.gsm8k,
            local=("gsm8k/{split}.jsonl", "qwen25math/gsm8k/{split}.jsonl"),
            hub=HubSource("openai/gsm8k", {"test": "test", "train": "train"}, configs=("main",)),
            examples_from="gsm8k", style="word", size=1319,
        ),
        DatasetSpec(
            "math500", "MATH-500, the Lightman et al. subset of MATH", records.math500,
            local=("math500/{split}.jsonl", "qwen25math/math500/{split}.jsonl"),
            hub=HubSource("HuggingFaceH4/MATH-500"),
            examples_from="math", size=500,
        ),
        DatasetSpec(
            "math", "MATH, all 5000 test problems (Hendrycks et al.)", records.math_full,
            local=("math/{split}.jsonl", "qwen25math/math/{split}.jsonl"),
            hub=HubSource("EleutherAI/hendrycks_math", {"test": "test", "train": "train"},
                          configs=MATH_SUBJECTS),
            examples_from="math", size=5000,
        ),
        DatasetSpec(
            "aime24", "AIME 2024 (I and II)", records.aime24, local=_qwen("aime24"),
            hub=HubSource("HuggingFaceH4/aime_2024", {"test": "train"}),
            examples_from="math", size=30,
        ),
        DatasetSpec(
            "aime25", "AIME 2025 (I and II)", records.aime25, local=_qwen("aime25"),
            hub=HubSource("math-ai/aime25"), examples_from="math", size=30,
        ),
        DatasetSpec(
            "amc23", "AMC 2023 (answerable problems)", records.amc23, local=_qwen("amc23"),
            hub=HubSource("math-ai/amc23"), examples_from="math", size=40,
        ),
        DatasetSpec(
            "svamp", "SVAMP word-problem variations", records.svamp, local=_qwen("svamp"),
            hub=HubSource("tongyx361/svamp"), examples_from="gsm8k", style="word", size=1000,
        ),
        DatasetSpec(
            "asdiv", "ASDiv diverse word problems", records.asdiv, local=_qwen("asdiv"),
            hub=HubSource("EleutherAI/asdiv", {"test": "validation"}, configs=("asdiv",)),
            examples_from="gsm8k", style="word", size=2215,
        ),
        DatasetSpec(
            "mawps", "MAWPS arithmetic word problems", records.mawps, local=_qwen("mawps"),
            hub=HubSource("MU-NLPC/Calc-mawps", {"test": "test", "train": "train"},
                          convert=records.mawps_hub),
            examples_from="gsm8k", style="word", size=2065,
        ),
        DatasetSpec(
            "minerva_math", "Minerva OCW-courses problems", records.minerva_math,
            local=_qwen("minerva_math"), hub=HubSource("math-ai/minervamath"),
            examples_from="math", size=272,
        ),
        DatasetSpec(
            "olympiadbench", "OlympiadBench, open-ended text-only English maths", records.olympiadbench,
            local=_qwen("olympiadbench"),
            hub=HubSource("Hothan/OlympiadBench", {"test": "train"}, configs=("OE_TO_maths_en_COMP",)),
            examples_from="math", size=675,
        ),
        DatasetSpec(
            "college_math", "College Math textbook exercises", records.college_math,
            local=_qwen("college_math"), examples_from="math", size=2818,
        ),
        DatasetSpec(
            "synthetic", "built-in multi-step arithmetic word problems (levels 1-5, no download)",
            convert=lambda record, index: None, examples_from="synthetic", style="word",
            size=synthetic.SYNTHETIC_SIZE,
            generate=lambda count, split: synthetic.generate(count, split),
        ),
    )
}


def get_spec(name: str) -> DatasetSpec:
    """A benchmark by its name, or by its hub id (`HuggingFaceH4/MATH-500` is math500)."""
    spec = DATASETS.get(name) or DATASETS.get(name.lower())
    if spec is None:
        spec = next((s for s in DATASETS.values() if s.hub is not None and s.hub.repo.lower() == name.lower()), None)
    if spec is None:
        raise UserError(f"unknown dataset '{name}'; known datasets: {', '.join(DATASETS)}, "
                        "or a .jsonl/.json/.csv file of your own problems")
    return spec


def is_benchmark(name: str) -> bool:
    try:
        get_spec(name)
    except UserError:
        return False
    return True


def split_datasets(text: str) -> list[str]:
    """`--dataset gsm8k,math500,aime25` as a list (a single name or file is a list of one)."""
    names = [part.strip() for part in str(text).split(",") if part.strip()]
    if not names:
        raise UserError("--dataset is empty: name a benchmark (see `matheval datasets`) or a file")
    return names


def dataset_name(name: str, limit: int | None = None, sample_seed: int | None = None) -> str:
    """What result folders and tables call a dataset: the benchmark's name or the file's stem, and for a
    seeded random subset (--limit) its seed, so that a subset never shares files with the first N."""
    base = get_spec(name).name if is_benchmark(name) else files.file_label(name)
    return base if limit is None else f"{base}.sample{sample_seed or 0}"


def _data_root(data_dir: str | os.PathLike | None) -> Path | None:
    """The local data folder (argument, then environment), or None for the hub."""
    chosen = data_dir if data_dir not in (None, "") else os.environ.get(DATA_DIR_ENV) or None
    if chosen is None:
        return None
    root = Path(chosen).expanduser()
    if not root.is_dir():
        raise UserError(f"data directory {root} does not exist; pass --data_dir with the benchmark files "
                        f"(or unset {DATA_DIR_ENV} to load from the hub)")
    return root


def _find_local(spec: DatasetSpec, root: Path, split: str) -> Path | None:
    for pattern in spec.local:
        path = root / pattern.format(split=split)
        if path.is_file():
            return path
    return None


def _missing_local(spec: DatasetSpec, root: Path, split: str) -> UserError:
    looked = ", ".join(pattern.format(split=split) for pattern in spec.local)
    message = f"no local {spec.name} {split} file under {root} (looked for {looked})"
    if spec.name == "math":
        message += ("; the full MATH set is not in the shared files: load it from the hub "
                    "(no --data_dir) or use math500")
    elif spec.hub is not None:
        message += f"; add the file, or load {spec.name} from the hub (no --data_dir, {DATA_DIR_ENV} unset)"
    return UserError(message)


def _convert_all(spec: DatasetSpec, rows, convert, split: str) -> list[Problem]:
    """Convert labelled rows, skipping None (proofs), with errors naming the row and unique ids.

    Problems of a split other than "test" get ids prefixed "<split>:" so that a few-shot example
    can never share an id with a test problem ("train:gsm8k-957" vs "gsm8k-957").
    """
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for index, (label, record) in enumerate(rows):
        try:
            problem = convert(record, index)
        except records.BadRecord as exc:
            raise UserError(f"{label}: {exc}") from exc
        if problem is None:
            continue
        if split != "test":
            problem = dataclasses.replace(problem, id=f"{split}:{problem.id}")
        if problem.id in seen:
            raise UserError(f"{label}: duplicate problem id '{problem.id}' (first at {seen[problem.id]})")
        seen[problem.id] = label
        problems.append(problem)
    return problems


def _load_local(spec: DatasetSpec, path: Path, split: str) -> list[Problem]:
    rows = ((f"{path} line {number}", record) for number, record in read_jsonl(path))
    return _convert_all(spec, rows, spec.convert, split)


def _load_hub(spec: DatasetSpec, split: str) -> list[Problem]:
    if spec.hub is None:
        raise UserError(f"{spec.name} has no hub source; pass --data_dir with local files "
                        f"(layout: {spec.layout(split)})")
    rows = fetch_rows(spec.name, spec.hub, split, spec.layout(split))
    return _convert_all(spec, rows, spec.hub.convert or spec.convert, split)


def _generate(spec: DatasetSpec, count: int | None, split: str) -> list[Problem]:
    try:
        return spec.generate(count, split)
    except ValueError as exc:  # an unknown split
        raise UserError(str(exc)) from exc


def _load_files(spec: DatasetSpec, data_dir, split: str) -> list[Problem]:
    root = _data_root(data_dir)
    if root is None:
        return _load_hub(spec, split)
    path = _find_local(spec, root, split)
    if path is None:
        raise _missing_local(spec, root, split)
    return _load_local(spec, path, split)


def load_problems(name: str, data_dir: str | os.PathLike | None = None, count: int | None = None,
                  split: str = "test", fields: files.FieldMap | None = None, limit: int | None = None,
                  sample_seed: int | None = None) -> list[Problem]:
    """The first `count` problems (all if None) of a benchmark or a file of problems, in its own order; or
    with `limit`, a random subset of that many drawn with `sample_seed` (kept in the dataset's order)."""
    for flag, value in (("--count", count), ("--limit", limit)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise UserError(f"{flag} must be a positive whole number, not {value!r}")
    if count is not None and limit is not None:
        raise UserError("--count (the first N) and --limit (a seeded random N) exclude each other: give one")
    if sample_seed is not None and limit is None:
        raise UserError("--sample_seed chooses the problems of --limit N: add --limit, or drop --sample_seed")
    if not is_benchmark(name) and files.is_file_dataset(name):
        problems, label = files.load_file(name, fields), files.file_label(name)
    else:
        if fields is not None and fields.given:
            raise UserError("--question_field/--answer_field/--id_field apply to a file given as --dataset, "
                            f"not to the benchmark {name}")
        spec = get_spec(name)
        label = spec.name if split == "test" else f"{spec.name} ({split})"
        if spec.generate is not None:  # a generator has no fixed size: make what was asked for
            return _generate(spec, count, split) if limit is None else _sample(_generate(spec, None, split),
                                                                              limit, sample_seed, label)
        problems = _load_files(spec, data_dir, split)
    if limit is not None:
        return _sample(problems, limit, sample_seed, label)
    if count is not None and count > len(problems):
        raise UserError(f"{label} has {len(problems)} problems; use --count {len(problems)} or less")
    return problems if count is None else problems[:count]


def _sample(problems: list[Problem], limit: int, seed: int | None, label: str) -> list[Problem]:
    if limit > len(problems):
        raise UserError(f"{label} has {len(problems)} problems; use --limit {len(problems)} or less")
    picks = sorted(random.Random(seed or 0).sample(range(len(problems)), limit))
    return [problems[i] for i in picks]


def _example_pool(spec: DatasetSpec, data_dir) -> list[Problem] | None:
    """Train-split problems with worked solutions, or None when no train split is at hand."""
    if spec.examples_from is None:
        return None
    source = DATASETS[spec.examples_from]
    if source.generate is not None:
        pool = _generate(source, None, "train")
    else:
        root = _data_root(data_dir)
        if root is not None:
            path = _find_local(source, root, "train")
            if path is None:
                return None
            pool = _load_local(source, path, "train")
        elif source.hub is not None and "train" in source.hub.splits:
            pool = _load_hub(source, "train")
        else:
            return None
    pool = [p for p in pool if p.solution and len(p.solution) <= MAX_EXAMPLE_SOLUTION_CHARS]
    return pool or None


def load_examples(name: str, k: int, data_dir: str | os.PathLike | None = None) -> list[Problem]:
    """`k` worked examples for few-shot prompts of benchmark `name`, the same ones every run.

    Drawn with a fixed seed from a train split (GSM8K's for word problems, MATH's for competition
    sets, the synthetic generator's own train split); where none is at hand (local files without
    a train split), from matheval's built-in examples. Never from a test split.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise UserError(f"the number of few-shot examples must be 0 or more, not {k!r}")
    if not is_benchmark(name) and files.is_file_dataset(name):  # a user's file: the built-in examples
        pool = list(BUILTIN_EXAMPLES["competition"])
        if k > len(pool):
            raise UserError(f"only {len(pool)} built-in few-shot examples for a file of problems; use "
                            f"--fewshot_k {len(pool)} or less")
        return pool[:k]
    spec = get_spec(name)
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise UserError(f"the number of few-shot examples must be 0 or more, not {k!r}")
    if k == 0:
        return []
    pool = _example_pool(spec, data_dir)
    if pool is None:
        pool = list(BUILTIN_EXAMPLES[spec.style])
        if k > len(pool):
            raise UserError(f"only {len(pool)} built-in few-shot examples for {spec.name} "
                            f"(no train split at hand); use k = {len(pool)} or less")
    elif k > len(pool):
        raise UserError(f"only {len(pool)} few-shot examples available for {spec.name}; "
                        f"use k = {len(pool)} or less")
    picks = random.Random(FEWSHOT_SEED).sample(range(len(pool)), k)
    return [pool[i] for i in picks]
