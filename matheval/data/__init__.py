"""Benchmark data: the `Problem` record, the dataset registry and its loaders.

    load_problems("gsm8k", data_dir="../shared/data", count=100)  -> list[Problem]
    load_examples("gsm8k", k=4)                                   -> few-shot worked examples

This package imports nothing else of matheval except `matheval.errors`.
"""

from .problem import Problem
from .registry import (
    DATA_DIR_ENV,
    DATASETS,
    FEWSHOT_SEED,
    DatasetSpec,
    get_spec,
    load_examples,
    load_problems,
)
from .synthetic import SYNTHETIC_SIZE

__all__ = [
    "DATA_DIR_ENV",
    "DATASETS",
    "FEWSHOT_SEED",
    "SYNTHETIC_SIZE",
    "DatasetSpec",
    "Problem",
    "get_spec",
    "load_examples",
    "load_problems",
]
