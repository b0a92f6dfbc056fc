"""Typed configs: one pydantic model per command, filled 1:1 from a YAML recipe, then overridden by flags.

Unknown keys are errors that name the key and the file. ``resolved(cfg)`` is what a run stores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from datagen.errors import InputError

RECIPES = Path(__file__).resolve().parent / "recipes"


class ConfigModel(BaseModel):
    """Base of every config: unknown keys are rejected, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


C = TypeVar("C", bound=ConfigModel)


def recipe_path(name_or_path: str | Path) -> Path:
    """A recipe file, or the name of a recipe embedded in the package (``default``)."""
    p = Path(name_or_path)
    if p.exists():
        return p
    embedded = RECIPES / f"{name_or_path}.yaml"
    if embedded.exists():
        return embedded
    raise InputError(f"recipe {name_or_path!s} not found (no such file, and no embedded recipe of that name)")


def read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read: {e}") from e
    except yaml.YAMLError as e:
        raise InputError(f"{path}: invalid YAML: {e}") from e
    if data is None:
        raise InputError(f"{path}: the recipe is empty (a recipe sets at least one key)")
    if not isinstance(data, dict):
        raise InputError(f"{path}: a recipe must be a mapping of keys to values, got {type(data).__name__}")
    return data


def section_of(recipe: str | Path | None, name: str) -> str | None:
    """``name`` when the recipe is a pipeline recipe with that section, None (the whole file) otherwise."""
    if recipe is not None and isinstance(read_yaml(recipe_path(recipe)).get(name), dict):
        return name
    return None


def describe_errors(err: ValidationError, where: str) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            lines.append(f"unknown key '{loc}' in {where}")
        else:
            lines.append(f"{loc}: {e['msg']} in {where} (got {e.get('input')!r})")
    return "; ".join(lines)


def build(cls: type[C], data: dict[str, Any], where: str) -> C:
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise InputError(describe_errors(e, where)) from None


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(
    cls: type[C],
    recipe: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    section: str | None = None,
) -> C:
    """Recipe values (optionally one ``section`` of a pipeline recipe), then flags that were given (not None)."""
    data: dict[str, Any] = {}
    where = "command-line flags"
    if recipe is not None:
        path = recipe_path(recipe)
        data = read_yaml(path)
        if section is not None:
            data = data.get(section) or {}
            if not isinstance(data, dict):
                raise InputError(f"{path}: section '{section}' must be a mapping")
            where = f"{path} (section '{section}')"
        else:
            where = str(path)
        build(cls, data, where)  # name the file when the recipe itself is wrong
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if recipe is not None and given:
        where += " + flags"
    return build(cls, deep_merge(data, given), where)


def resolved(cfg: ConfigModel) -> dict[str, Any]:
    """The fully resolved config as JSON-safe data (defaults included), as stored on the run row."""
    return cfg.model_dump(mode="json")
