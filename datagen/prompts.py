"""Prompt templates: files under ``prompts/`` (in an installed wheel ``datagen/_resources/prompts/``, see
``datagen.resources``), rendered by Jinja2 with strict variables.

A template is referred to by its path relative to ``prompts/`` without the ``.j2`` suffix
(``self_instruct/generate_tasks``). Rendering fails loudly when a variable is missing or unexpected.
Every record stores the template name and the sha256 of the file it was rendered from. A template may open
with a Jinja comment (``{# ... #}``) saying where its wording comes from; comments are not rendered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from datagen.errors import InputError
from datagen.resources import resource_path

PROMPTS_DIR = resource_path("prompts")


@dataclass(frozen=True)
class Template:
    name: str
    source: str
    sha256: str
    variables: frozenset[str]

    def render(self, **variables: Any) -> str:
        import jinja2

        missing = self.variables - variables.keys()
        extra = variables.keys() - self.variables
        if missing or extra:
            raise InputError(
                f"prompt template {self.name!r}: "
                + "; ".join(
                    part
                    for part in (
                        f"missing variables {sorted(missing)}" if missing else "",
                        f"unexpected variables {sorted(extra)}" if extra else "",
                    )
                    if part
                )
            )
        env = jinja2.Environment(
            undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False
        )
        return env.from_string(self.source).render(**variables).strip()


def load(name: str, directory: str | Path | None = None) -> Template:
    """The template ``name`` from ``directory`` (a folder laid out like ``prompts/``) when that folder has it,
    else the built-in one: a recipe's ``templates_dir`` replaces only the templates it holds."""
    if directory is None:
        return _load(name, PROMPTS_DIR)
    folder = Path(directory).expanduser()
    if not folder.is_dir():
        raise InputError(f"templates_dir {str(directory)!r} is not a folder")
    return _load(name, folder if (folder / f"{name}.j2").is_file() else PROMPTS_DIR)


@cache
def _load(name: str, directory: Path) -> Template:
    import jinja2
    from jinja2 import meta

    path = directory / f"{name}.j2"
    if not path.exists():
        raise InputError(f"prompt template {name!r} not found at {path}")
    source = path.read_text(encoding="utf-8")
    env = jinja2.Environment()
    variables = frozenset(meta.find_undeclared_variables(env.parse(source)))
    return Template(name, source, hashlib.sha256(source.encode()).hexdigest(), variables)


def render(name: str, **variables: Any) -> str:
    return load(name).render(**variables)
