"""The dataset card's YAML header, as the Hugging Face Hub reads it: built with ``huggingface_hub``'s
``DatasetCardData`` (so it round-trips through it), with a ``configs`` entry naming every split's data file in the
export folder, so ``datasets.load_dataset(folder)`` and the Hub's viewer load the splits of any format."""

from __future__ import annotations

from typing import Any

# the Hub's size_categories buckets: (upper bound, label)
SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
)


def size_category(n: int) -> str:
    return next((label for bound, label in SIZE_CATEGORIES if n < bound), "n>1B")


def card_data(
    *,
    n: int,
    data_files: dict[str, str],
    license: str,
    language: list[str],
    pretty_name: str,
    fmt: str,
) -> Any:
    """A ``huggingface_hub.DatasetCardData`` for an export of ``n`` records whose split files are ``data_files``
    (split -> path inside the folder)."""
    from huggingface_hub import DatasetCardData

    return DatasetCardData(
        license=license,
        language=language,
        task_categories=["text-generation"],
        size_categories=[size_category(n)],
        pretty_name=pretty_name,
        configs=[
            {
                "config_name": "default",
                "data_files": [{"split": split, "path": path} for split, path in data_files.items()],
            }
        ],
        tags=["synthetic", "datagen", fmt],
    )


def header(data: Any) -> list[str]:
    """The card's opening lines: the YAML block between ``---`` markers."""
    return ["---", *data.to_yaml().splitlines(), "---", ""]
