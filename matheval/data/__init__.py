"""Benchmark data: the `Problem` record, the dataset registry and its loaders.

    load_problems("gsm8k", data_dir="../shared/data", count=100)  -> list[Problem]
    load_problems("my_problems.jsonl", limit=50, sample_seed=1)   -> a seeded random 50 of your own file
    load_examples("gsm8k", k=4)                                   -> few-shot worked examples

This package imports nothing else of matheval except `matheval.errors`.
"""

from .files import FieldMap, fingerprint, is_file_dataset
from .problem import Problem
from .registry import (
    DATA_DIR_ENV,
    DATASETS,
    FEWSHOT_SEED,
    DatasetSpec,
    dataset_name,
    get_spec,
    is_benchmark,
    load_examples,
    load_problems,
    split_datasets,
)
from .synthetic import SYNTHETIC_SIZE

__all__ = [
    "DATA_DIR_ENV",
    "DATASETS",
    "FEWSHOT_SEED",
    "SYNTHETIC_SIZE",
    "DatasetSpec",
    "FieldMap",
    "Problem",
    "dataset_name",
    "fingerprint",
    "is_benchmark",
    "is_file_dataset",
    "split_datasets",
    "get_spec",
    "load_examples",
    "load_problems",
]
