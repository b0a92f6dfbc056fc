"""Command-line flags made from a command's pydantic config: one option per field, nothing written by hand.

``config_options(Config, aliases=...)`` decorates a click command with one option per config field: the flag
name from the field name (``max_usd`` -> ``--max-usd``; a nested config's fields get its name as a prefix,
``exec.max_usd`` -> ``--exec-max-usd``), the help from the field's description with its default shown once,
choices from ``Literal`` types, ``--x/--no-x`` for booleans, a repeatable option for lists (each value may
also be comma-separated) and a repeatable ``KEY=VALUE`` for dicts (the value read as YAML, so numbers and
lists keep their type; keys not given keep their value). Every option defaults to "not given", so a flag
overrides the recipe only when it is on the command line (defaults < recipe < flags).

``aliases`` keeps short names working: ``{"learning_rate": "--lr"}`` adds ``--lr`` to the field's flag, and
``{"--auto": ("mode", "auto")}`` adds a switch that sets a field to a value. ``arguments`` turns fields into
positional arguments (``datagen export DATASET``). The command gets the flags' values back as a nested dict
of overrides with ``overrides(kw)``.

Only the config classes are imported to build the flags (they import pydantic and the light parts of the
package), so ``datagen --help`` and a command's ``--help`` stay fast.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

import click
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from datagen.errors import InputError

PREFIX = "cfg__"  # keyword names of generated options: cfg__exec__max_usd

# field path -> extra flag name(s) ("!--name" replaces the generated one); "--flag" -> (field path, value)
Aliases = dict[str, Any]


@dataclass(frozen=True)
class ConfigLeaf:
    """One leaf of a config: its path (``("exec", "max_usd")``), annotation and pydantic field info."""

    path: tuple[str, ...]
    annotation: Any
    info: FieldInfo
    # Inside a nested config whose default the parent field sets (a method's sampling): that default's value
    # here, and on the group's first leaf the parent field's description.
    default: Any = None
    group_help: str | None = None

    @property
    def flag(self) -> str:
        return "--" + "-".join(self.path).replace("_", "-")

    @property
    def dest(self) -> str:
        return PREFIX + "__".join(self.path)


def leaves(
    cls: type[BaseModel], prefix: tuple[str, ...] = (), parent: FieldInfo | None = None
) -> Iterator[ConfigLeaf]:
    """Every field of ``cls``, nested configs flattened into their own fields (with the defaults and the
    description their parent field gives them)."""
    given = parent.get_default(call_default_factory=True) if parent and not parent.is_required() else None
    for k, (name, info) in enumerate(cls.model_fields.items()):
        ann = _strip_optional(info.annotation)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from leaves(ann, (*prefix, name), info)
        else:
            default = getattr(given, name) if isinstance(given, BaseModel) else None
            group = parent.description if parent is not None and k == 0 else None
            yield ConfigLeaf((*prefix, name), ann, info, default, group)


def _strip_optional(ann: Any) -> Any:
    if get_origin(ann) in (Union, types.UnionType):
        args = [a for a in get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return ann


def _default_text(f: ConfigLeaf) -> str:
    info = f.info
    if info.is_required():
        return "required"
    value = f.default if f.default is not None else info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if value is None or value == {} or value == []:
        return "none" if value is None else "empty"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _help(f: ConfigLeaf) -> str:
    parts = []
    for text in (f.group_help, f.info.description):
        text = (text or "").strip()
        if text:
            text = text[0].upper() + text[1:]
            parts.append(text if text.endswith((".", ")")) else text + ".")
    return f"{' '.join(parts)} [default: {_default_text(f)}]".strip()


def _kind(ann: Any) -> str:
    origin = get_origin(ann)
    if ann is bool:
        return "bool"
    if origin is list or ann is list:
        return "list"
    if origin is dict or ann is dict:
        return "dict"
    return "scalar"


def _click_type(ann: Any) -> Any:
    if get_origin(ann) is Literal and all(isinstance(a, str) for a in get_args(ann)):
        return click.Choice(get_args(ann))
    if ann in (int, float, str):
        return ann
    if get_origin(ann) is list:
        (item,) = get_args(ann) or (str,)
        return _click_type(item)
    return str  # unions, tuples, Any: read as YAML when applied


def _option(f: ConfigLeaf, names: list[str]) -> Callable[[Any], Any]:
    kind = _kind(f.annotation)
    help_ = _help(f)
    if kind == "bool":
        decls = [f"{n}/--no-{n[2:]}" for n in names]
        return click.option(*decls, f.dest, default=None, help=help_)
    if kind == "list":
        return click.option(
            *names, f.dest, multiple=True, type=_click_type(f.annotation), help=help_ + " Repeatable."
        )
    if kind == "dict":
        return click.option(*names, f.dest, multiple=True, metavar="KEY=VALUE", help=help_ + " Repeatable.")
    return click.option(*names, f.dest, type=_click_type(f.annotation), default=None, help=help_)


def config_options(
    cls: type[BaseModel], *, aliases: Aliases | None = None, arguments: tuple[str, ...] = ()
) -> Callable[[Any], Any]:
    """A decorator that adds one click option per field of ``cls`` (see the module docstring)."""
    aliases = aliases or {}
    fields = {".".join(f.path): f for f in leaves(cls)}
    unknown = [k for k in aliases if not k.startswith("--") and k not in fields]
    assert not unknown, f"aliases for unknown fields {unknown} of {cls.__name__}"

    def decorate(fn: Any) -> Any:
        decorators: list[Callable[[Any], Any]] = []
        for key, f in fields.items():
            if key in arguments:
                required = f.info.is_required()
                decorators.append(click.argument(f.dest, metavar=f.path[-1].upper(), required=required))
                continue
            alias = aliases.get(key, ())
            extra = [alias] if isinstance(alias, str) else list(alias)
            rename = [a for a in extra if a.startswith("!")]  # "!--name": replace the generated flag
            names = [a[1:] for a in rename] or [f.flag]
            names += [a for a in extra if not a.startswith("!")]
            decorators.append(_option(f, names))
        for flag, target in aliases.items():
            if flag.startswith("--"):
                assert isinstance(target, tuple) and len(target) == 2, flag
                path, value = target
                dest = PREFIX + "set__" + flag[2:].replace("-", "_")
                help_ = f"Same as setting {path} to {value!r}."
                decorators.append(click.option(flag, dest, is_flag=True, default=False, help=help_))
        for d in reversed(decorators):
            fn = d(fn)
        fn.__datagen_config__ = (cls, aliases)
        return fn

    return decorate


def overrides(kw: dict[str, Any], cls: type[BaseModel], aliases: Aliases | None = None) -> dict[str, Any]:
    """Pop the generated options from a command's keyword arguments; return the given ones as nested data."""
    fields = {f.dest: f for f in leaves(cls)}
    out: dict[str, Any] = {}
    switches = {
        PREFIX + "set__" + flag[2:].replace("-", "_"): target
        for flag, target in (aliases or {}).items()
        if flag.startswith("--")
    }
    for dest in [k for k in kw if k.startswith(PREFIX)]:
        value = kw.pop(dest)
        if dest in switches:
            if value:
                path, const = switches[dest]
                _put(out, tuple(str(path).split(".")), const)
            continue
        f = fields[dest]
        parsed = _parse(f, value)
        if parsed is not None:
            _put(out, f.path, parsed)
    return out


def _parse(f: ConfigLeaf, value: Any) -> Any:
    if value is None or value == ():
        return None
    kind = _kind(f.annotation)
    if kind == "list":
        items: list[Any] = []
        for v in value:
            items += [p.strip() for p in v.split(",") if p.strip()] if isinstance(v, str) else [v]
        return items
    if kind == "dict":
        return _pairs(value, f.flag, yaml_values=get_args(f.annotation)[1:2] != (str,))
    if (
        kind == "scalar"
        and isinstance(value, str)
        and _click_type(f.annotation) is str
        and f.annotation is not str
    ):
        return _yaml(value)  # a union or tuple: read as YAML, pydantic checks it
    return value


def _pairs(values: tuple[str, ...], flag: str, *, yaml_values: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{flag} {v!r}: expected KEY=VALUE")
        out[key.strip()] = _yaml(value.strip()) if yaml_values else value.strip()
    return out


def _yaml(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text) if text else text
    except yaml.YAMLError:
        return text


def _put(out: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        out = out.setdefault(key, {})
    out[path[-1]] = value
