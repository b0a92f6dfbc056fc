"""The Hugging Face export: one parquet file per split under ``data/``, the layout the Hub's viewer and
``datasets.load_dataset(folder)`` read through the card's ``configs`` (the card is separate). One copy of the data:
the folder is what gets uploaded. Missing values are nulls (a root record's ``parent_id``, a seed's ``operation``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datagen.export.formats import Render, by_split, messages

COLUMNS = ("id", "instruction", "input", "output", "method", "operation", "parent_id")


def features(text: bool) -> Any:
    """The columns' types, fixed so that a split whose values are all null keeps them (not Arrow's null type)."""
    from datasets import Features, Value

    cols: dict[str, Any] = {
        "id": Value("int64"),
        "instruction": Value("string"),
        "input": Value("string"),
        "output": Value("string"),
        "method": Value("string"),
        "operation": Value("string"),
        "parent_id": Value("int64"),
        "messages": [{"role": Value("string"), "content": Value("string")}],
    }
    if text:
        cols["text"] = Value("string")
    return Features(cols)


def write_hf(
    rows: list[dict[str, Any]], out: Path, system_prompt: str | None = None, render: Render | None = None
) -> list[Path]:
    from datasets import Dataset, disable_progress_bars

    disable_progress_bars()
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    paths = []
    for split, rs in by_split(rows).items():
        cols: dict[str, list[Any]] = {c: [r[c] for r in rs] for c in COLUMNS}
        cols["messages"] = [messages(r, system_prompt) for r in rs]
        if render:
            cols["text"] = [render(m) for m in cols["messages"]]
        path = data / f"{split}.parquet"
        Dataset.from_dict(cols, features=features(render is not None)).to_parquet(str(path))
        paths.append(path)
    return paths
