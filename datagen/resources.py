"""Where the files that ship beside the code are: ``prompts/``, ``migrations/``, ``alembic/``, ``alembic.ini``.

In the repository they are top-level folders (DESIGN.md fixes the layout). A built wheel carries copies of
them inside the package, under ``datagen/_resources/`` (``setup.py`` copies them at build time, the same
layout as the repository's root, so ``alembic.ini``'s ``%(here)s`` paths hold there too). An installed wheel
uses its copies, found through ``importlib.resources``; a source checkout (editable install included)
has no ``datagen/_resources/`` and uses the top-level folders in place.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

from datagen.errors import DatagenError

NAMES = ("prompts", "migrations", "alembic", "alembic.ini")
PACKAGED = "_resources"
CHECKOUT = Path(__file__).resolve().parent.parent


@cache
def resource_path(name: str) -> Path:
    """The folder or file ``name`` (one of ``NAMES``) as a path on disk: the installed copy, else the checkout's."""
    if name not in NAMES:
        raise ValueError(f"unknown resource {name!r}; one of {NAMES}")
    packaged = files("datagen").joinpath(PACKAGED, name)
    if packaged.is_dir() or packaged.is_file():
        return Path(str(packaged))
    checkout = CHECKOUT / name
    if checkout.exists():
        return checkout
    raise DatagenError(
        f"datagen's {name!r} is missing: neither {packaged} (an installed wheel) nor {checkout} (a source "
        "checkout) exists. Reinstall datagen (`pip install --force-reinstall datagen-*.whl`)."
    )
