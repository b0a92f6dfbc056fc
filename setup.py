"""Build step that pyproject.toml cannot declare: ship the repository's top-level ``prompts/``, ``migrations/``,
``alembic/`` and ``alembic.ini`` inside the ``datagen`` package, as ``datagen/_resources/...``.

They stay top-level folders in the repository (DESIGN.md), and a top-level ``alembic/`` must never become an
importable package (it would shadow the alembic library), so they are copied into the built package instead of
being declared as packages. ``datagen.resources`` finds the copies through ``importlib.resources``; an editable
install finds the top-level folders in place (nothing is copied). ``MANIFEST.in`` puts them in the sdist.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
RESOURCES = ("prompts", "migrations", "alembic", "alembic.ini")  # datagen.resources.NAMES
TARGET = Path("datagen", "_resources")


class BuildWithResources(build_py):
    """build_py, then the resources copied under ``datagen/_resources/`` in the build folder."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's folders
        target = Path(self.build_lib) / TARGET
        for name in RESOURCES:
            source, dest = HERE / name, target / name
            if source.is_dir():
                shutil.rmtree(dest, ignore_errors=True)
                shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest)


setup(cmdclass={"build_py": BuildWithResources})
