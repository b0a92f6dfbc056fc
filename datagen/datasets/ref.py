"""Dataset references: ``name`` or ``name@version``, and the dataset version one names.

Used wherever a dataset is named: export, fine-tuning, dataset listing, and a review or dataset scope drawn
from a dataset.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from datagen.errors import InputError
from datagen.store.models import Dataset


def split_ref(ref: str) -> tuple[str, int | None]:
    """``name`` or ``name@version``."""
    name, sep, ver = ref.partition("@")
    if not name:
        raise InputError(f"dataset reference {ref!r} has no name")
    if not sep:
        return name, None
    if not ver.isdigit():
        raise InputError(f"dataset reference {ref!r}: version must be a number")
    return name, int(ver)


def find_dataset(s: Session, ref: str, version: int | None = None) -> Dataset:
    """The dataset NAME[@VERSION] (``version`` overrides the one in ``ref``); the latest version when none."""
    name, v = split_ref(ref)
    if version is not None and v is not None and version != v:
        raise InputError(f"dataset {ref!r} and --version {version} name different versions")
    v = version if version is not None else v
    q = select(Dataset).where(Dataset.name == name)
    q = q.where(Dataset.version == v) if v is not None else q.order_by(Dataset.version.desc())
    ds = s.scalars(q.limit(1)).first()
    if ds is None:
        known = sorted(set(s.scalars(select(Dataset.name))))
        what = f"{name}@{v}" if v is not None else name
        raise InputError(f"dataset {what!r} not found (known datasets: {', '.join(known) or 'none'})")
    return ds
