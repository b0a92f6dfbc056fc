"""Versioned datasets: frozen sets of approved records with deterministic, leak-free splits.

Library entry points: ``run_dataset(store, DatasetConfig, parent_run) -> StageResult`` (the stage),
``create_dataset(store, DatasetConfig, parent_run_id) -> (name, version)``,
``list_datasets``, ``show_dataset``, ``load_rows``.
"""

from datagen.datasets.catalog import list_datasets, load_rows, show_dataset
from datagen.datasets.config import DatasetConfig
from datagen.datasets.create import GateRefused, create_dataset, run_dataset

__all__ = [
    "DatasetConfig",
    "GateRefused",
    "create_dataset",
    "list_datasets",
    "load_rows",
    "run_dataset",
    "show_dataset",
]
