"""Flags are made from the configs: every field of every command's config is a flag (or an argument) in its
``--help``; a flat recipe and a pipeline recipe's section resolve to the same config; flags override both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from datagen.cli import COMMANDS, cli
from datagen.commands.flags import leaves


def _commands() -> list[tuple[str, click.Command]]:
    out = []
    ctx = click.Context(cli)
    for name in COMMANDS:
        cmd = cli.get_command(ctx, name)
        assert cmd is not None
        out.append((name, cmd))
        if isinstance(cmd, click.Group):
            out += [(f"{name} {sub}", c) for sub, c in cmd.commands.items()]
    return out


CONFIGURED = [(n, c) for n, c in _commands() if hasattr(c.callback, "__datagen_config__")]


def test_the_commands_with_a_config_are_the_stage_commands() -> None:
    names = {n for n, _ in CONFIGURED}
    assert names == {"import", "generate self-instruct", "generate evol", "filter", "review", "dataset create",
                     "export", "train", "score", "compare", "pipeline"}  # fmt: skip


@pytest.mark.parametrize(("name", "cmd"), CONFIGURED, ids=[n for n, _ in CONFIGURED])
def test_every_config_field_is_in_help(name: str, cmd: click.Command, run_cli: Any) -> None:
    cls, _aliases = cmd.callback.__datagen_config__  # type: ignore[union-attr]
    res = run_cli(*name.split(), "--help")
    assert res.exit_code == 0, res.output
    params = {p.name: p for p in cmd.params}
    for f in leaves(cls):
        p = params.get(f.dest)
        assert p is not None, f"{name}: no flag for {'.'.join(f.path)}"
        shown = p.human_readable_name if isinstance(p, click.Argument) else p.opts[0]
        assert shown in res.stdout, f"{name}: {shown} ({'.'.join(f.path)}) not in --help"
        if isinstance(p, click.Option):
            assert f.info.description, f"{name}: {'.'.join(f.path)} has no description"
            assert "[default:" in (p.help or "")


# command -> (its pipeline section, arguments it needs, a recipe section that changes several defaults)
RECIPES: dict[str, tuple[str, list[str], dict[str, Any]]] = {
    "review": ("review", [], {"fraction": 0.3, "seed": 7, "min_count": 3, "mode": "auto"}),
    "dataset create": ("dataset", ["demo"], {"seed": 3, "acceptance_floor": 0.2, "splits": {"train": 1.0}}),
    "filter": ("filter", [], {"filters": ["heuristics", "dedup"], "settings": {"dedup": {"threshold": 0.8}}}),
    "train": ("train", ["--dataset", "d@1"], {"method": "lora", "learning_rate": 1e-4, "max_steps": 3}),
    "score": ("score", ["--train-run", "1"], {"max_examples": 5, "split": "validation"}),
    "generate self-instruct": (
        "self_instruct",
        [],
        {"n": 7, "sampling": {"max_tokens": 99}, "exec": {"rpm": 5}},
    ),
    "generate evol": ("evol", [], {"rounds": 2, "weights": {"breadth": 3.0}, "source": "run:1"}),
}


def _resolve(name: str, argv: list[str]) -> dict[str, Any]:
    """The config a command would run with, built by the command's own flags and loader."""
    from datagen.commands.common import config_from
    from datagen.config import resolved

    cmd = dict(CONFIGURED)[name]
    cls, aliases = cmd.callback.__datagen_config__  # type: ignore[union-attr]
    ctx = cmd.make_context(name, list(argv))
    kw = {k: v for k, v in ctx.params.items() if k.startswith("cfg__") or k == "recipe"}
    return resolved(config_from(cls, kw, RECIPES[name][0], aliases))


@pytest.mark.parametrize("name", list(RECIPES))
def test_a_flat_recipe_and_a_pipeline_section_resolve_the_same(name: str, tmp_path: Path) -> None:
    section, args, values = RECIPES[name]
    flat, pipe = tmp_path / "flat.yaml", tmp_path / "pipe.yaml"
    flat.write_text(yaml.safe_dump(values))
    other = "train" if section != "train" else "score"
    pipe.write_text(yaml.safe_dump({"name": "x", section: values, other: {"seed": 1}}))
    from_flat = _resolve(name, [*args, "--recipe", str(flat)])
    assert from_flat == _resolve(name, [*args, "--recipe", str(pipe)])
    defaults = _resolve(name, args)
    for key, value in values.items():
        if isinstance(value, dict):
            assert from_flat[key] == {**defaults[key], **value} or from_flat[key] == value
        else:
            assert from_flat[key] == value != defaults[key]


def test_flags_override_the_recipe_and_dicts_keep_unnamed_keys(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"evol": {"rounds": 2, "exec": {"rpm": 5}}}))
    cfg = _resolve("generate evol", ["--recipe", str(recipe), "--rounds", "3", "--weight", "breadth=2",
                                     "--concurrency", "9", "--max-tokens", "50"])  # fmt: skip
    assert cfg["rounds"] == 3 and cfg["exec"]["rpm"] == 5 and cfg["exec"]["concurrency"] == 9
    assert cfg["weights"]["breadth"] == 2 and cfg["weights"]["deepening"] == 1
    assert cfg["sampling"]["max_tokens"] == 50 and cfg["sampling"]["temperature"] == 1.0


def test_a_flat_review_recipe_is_used(tmp_path: Path, fresh_db: Path, run_cli: Any) -> None:
    """The reported bug: `datagen review --recipe flat.yaml` silently ran with the defaults."""
    from datagen.store import open_store
    from datagen.store.models import ReviewSample
    from tests.review_data import insert, population

    run, _ = insert(open_store(str(fresh_db)), population())
    recipe = tmp_path / "flat.yaml"
    recipe.write_text("fraction: 0.3\nseed: 7\nmin_count: 1\n")
    res = run_cli("review", "--recipe", str(recipe), "--run", str(run), "--auto", "--json")
    assert res.exit_code == 0, res.output
    store = open_store(str(fresh_db))
    with store.session() as s:
        sample = s.query(ReviewSample).one()
        assert (sample.fraction, sample.seed, sample.min_count) == (0.3, 7, 1)


def test_pipeline_sections_are_the_ones_recipes_are_detected_by() -> None:
    from datagen.config import PIPELINE_SECTIONS
    from datagen.pipeline import RUNNERS
    from datagen.pipeline_config import PipelineConfig

    sections = [n for n, f in PipelineConfig.model_fields.items() if f.annotation == dict[str, Any]]
    assert sorted(sections) == sorted(PIPELINE_SECTIONS)
    assert set(sections) <= set(RUNNERS)
