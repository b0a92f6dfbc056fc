"""Exports of a dataset version: JSONL, Alpaca, ChatML and Hugging Face, each with a dataset card.

Library entry point: ``export_dataset(store, name, version, fmt, out_dir, redact=False) -> list[Path]``.
"""

from datagen.export.run import FORMATS, export_dataset

__all__ = ["FORMATS", "export_dataset"]
