"""Exports of a dataset version: JSONL, Alpaca, ChatML and Hugging Face, each with a dataset card.

Library entry point: ``datagen.export.run.export_dataset(store, name, version, fmt, out_dir, redact=False)``.
This package module stays light (the command reads ``FORMATS`` for its choices without loading the store).
"""

FORMATS = ("jsonl", "alpaca", "chatml", "hf")
