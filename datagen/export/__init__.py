"""Exports of a dataset version: JSONL, Alpaca, ChatML, TRL prompt/completion and Hugging Face (parquet), each with
a dataset card the Hub reads.

Library entry point: ``datagen.export.run.export_dataset(store, name, version, fmt, out_dir, redact=False)``.
This package module stays light (the command reads ``FORMATS`` for its choices without loading the store).
"""

FORMATS = ("jsonl", "alpaca", "chatml", "prompt-completion", "hf")
