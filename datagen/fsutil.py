"""Checks on output paths, made before any work so that a bad path costs nothing."""

from __future__ import annotations

import os
from pathlib import Path

from datagen.errors import InputError


def check_writable(path: str | Path, what: str, folder: bool = False) -> None:
    """A file ``path`` can be written (its folder exists and is writable), or with ``folder`` a folder ``path`` can
    be made (its nearest existing ancestor is a writable folder)."""
    p = Path(path).expanduser().absolute()
    where = next(a for a in (p, *p.parents) if a.exists()) if folder else p.parent
    if not where.is_dir() or not os.access(where, os.W_OK | os.X_OK):
        reason = "is not a writable folder" if where.exists() else "does not exist"
        raise InputError(f"cannot write the {what} {path}: {where} {reason}")
