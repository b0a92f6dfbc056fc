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


# The sections of a pipeline recipe, one per stage command; a recipe file with any of them (as a mapping) is a
# pipeline recipe, any other file is one command's flat config. Every command detects it the same way.
PIPELINE_SECTIONS = ("self_instruct", "evol", "filter", "review", "dataset", "train", "score")


def recipe_data(recipe: str | Path, section: str | None) -> tuple[dict[str, Any], str]:
    """A command's part of a recipe and where it came from: the whole file when it is a flat config, its
    ``section`` when it is a pipeline recipe (an absent section is empty: that stage's defaults)."""
    path = recipe_path(recipe)
    data = read_yaml(path)
    if section is None or not any(isinstance(data.get(k), dict) for k in PIPELINE_SECTIONS):
        return data, str(path)
    part = data.get(section) or {}
    if not isinstance(part, dict):
        raise InputError(f"{path}: section '{section}' must be a mapping")
    return part, f"{path} (section '{section}')"


FLAGS = "command-line flags"


def describe_errors(
    err: ValidationError,
    where: str,
    flags: dict[str, str] | None = None,
    given: dict[str, Any] | None = None,
    *,
    skip_missing: bool = False,
) -> str:
    """One line per error of ``err`` (joined by "; "), naming what is wrong where the user can fix it.

    ``flags`` maps field paths (``exec.max_usd``) to the flag as the user types it (``--max-usd``); ``given``
    is what the flags set. A missing value reads "missing --dataset"; a bad value given by a flag reads
    "--lr: Input should be greater than 0 (got -1.0)"; anything else names the key and ``where``.
    ``skip_missing`` leaves out missing values (a recipe checked alone: the flags may still supply them).
    """
    lines = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"])
        flag = _flag_for(e["loc"], flags or {})
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "missing" and skip_missing:
            continue
        if e["type"] == "missing":
            recipe = "" if where == FLAGS else f" (or '{loc}' in {where})"
            lines.append(f"missing {flag}{recipe}" if flag else f"missing '{loc}' in {where}")
        elif e["type"] == "extra_forbidden":
            lines.append(f"unknown key '{loc}' in {where}")
        elif not loc:  # a rule across fields: its message says what to change
            lines.append(f"{msg} (in {where})" if where != FLAGS else msg)
        elif flag and (where == FLAGS or _has(given or {}, e["loc"])):
            lines.append(f"{flag}: {msg} (got {e.get('input')!r})")
        else:
            lines.append(f"{loc}: {msg} in {where} (got {e.get('input')!r})")
    return "; ".join(lines)


def _flag_for(loc: tuple[int | str, ...], flags: dict[str, str]) -> str | None:
    """The flag of the longest known field path that ``loc`` starts with (``weights.breadth`` -> --weight)."""
    keys = [str(x) for x in loc]
    for n in range(len(keys), 0, -1):
        if ".".join(keys[:n]) in flags:
            return flags[".".join(keys[:n])]
    return None


def _has(data: dict[str, Any], loc: tuple[int | str, ...]) -> bool:
    for key in loc:
        if not isinstance(data, dict) or key not in data:
            return False
        data = data[key]
    return True


def build(
    cls: type[C],
    data: dict[str, Any],
    where: str,
    flags: dict[str, str] | None = None,
    given: dict[str, Any] | None = None,
) -> C:
    """``cls`` from ``data``; an invalid value is an ``InputError`` naming it (see ``describe_errors``)."""
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise InputError(describe_errors(e, where, flags, given)) from None


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
    flags: dict[str, str] | None = None,
) -> C:
    """The one loader: defaults < the recipe (a flat config, or ``section`` of a pipeline recipe) < the flags
    that were given (values not None). A dict given by flags changes only the keys it names. ``flags`` names
    each field's flag for the error messages (``datagen.commands.common.config_from`` gives it)."""
    data: dict[str, Any] = {}
    where = FLAGS
    if recipe is not None:
        data, where = recipe_data(recipe, section)
        _check_recipe(cls, data, where)
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if recipe is not None and given:
        where += " + flags"
    return build(cls, deep_merge(data, _over_defaults(cls, data, given)), where, flags, given)


def _check_recipe(cls: type[BaseModel], data: dict[str, Any], where: str) -> None:
    """Name the file when the recipe itself is wrong (a key the flags may still supply is not wrong)."""
    try:
        cls.model_validate(data)
    except ValidationError as e:
        if any(err["type"] != "missing" for err in e.errors()):
            raise InputError(describe_errors(e, where, skip_missing=True)) from None


def _over_defaults(cls: type[BaseModel], data: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """``given`` with each dict-typed field that the recipe does not set laid over the field's default, so
    ``--weight breadth=2`` keeps the other weights."""
    out = dict(given)
    for name, value in given.items():
        field = cls.model_fields.get(name)
        if field is None or not isinstance(value, dict):
            continue
        default = field.get_default(call_default_factory=True)
        sub = data.get(name)
        if isinstance(default, BaseModel):
            sub = sub if isinstance(sub, dict) else {}
            out[name] = _over_defaults(type(default), sub, value)
        elif isinstance(default, dict) and name not in data:
            out[name] = {**default, **value}
    return out


def resolved(cfg: ConfigModel) -> dict[str, Any]:
    """The fully resolved config as JSON-safe data (defaults included), as stored on the run row: a password
    in a URL (``base_url: https://user:secret@host``) is stored masked."""
    from datagen.urls import masked_data

    return masked_data(cfg.model_dump(mode="json"))  # type: ignore[no-any-return]
