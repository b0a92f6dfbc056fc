"""The Hugging Face export: ``save_to_disk`` folder plus one parquet file per split (the card is separate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datagen.export.formats import by_split, messages

COLUMNS = ("id", "instruction", "input", "output", "method", "operation", "parent_id")


def write_hf(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    from datasets import Dataset, DatasetDict, disable_progress_bars

    disable_progress_bars()

    parts = {}
    for split, rs in by_split(rows).items():
        cols: dict[str, list[Any]] = {c: [r[c] for r in rs] for c in COLUMNS}
        cols["operation"] = [r["operation"] or "" for r in rs]
        cols["parent_id"] = [r["parent_id"] if r["parent_id"] is not None else -1 for r in rs]
        cols["messages"] = [messages(r) for r in rs]
        parts[split] = Dataset.from_dict(cols)
    dd = DatasetDict(parts)
    disk = out / "hf_dataset"
    dd.save_to_disk(str(disk))
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    paths = [disk]
    for split, ds in dd.items():
        p = data / f"{split}.parquet"
        ds.to_parquet(str(p))
        paths.append(p)
    return paths
