"""Typed configs: recipe keys 1:1, flags override, unknown keys name the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from datagen.config import ConfigModel, load_config, resolved
from datagen.errors import InputError


class Inner(ConfigModel):
    threshold: float = 0.9


class Cfg(ConfigModel):
    n: int = 10
    model: str = "smollm2-135m-instruct"
    inner: Inner = Inner()


def test_recipe_fills_fields_and_flags_override(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("n: 5\nmodel: gpt-4o-mini\ninner:\n  threshold: 0.8\n")
    cfg = load_config(Cfg, recipe, {"n": 7, "model": None})
    assert (cfg.n, cfg.model, cfg.inner.threshold) == (7, "gpt-4o-mini", 0.8)
    assert resolved(cfg) == {"n": 7, "model": "gpt-4o-mini", "inner": {"threshold": 0.8}}


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("n: 5\ninner:\n  treshold: 0.8\n")
    with pytest.raises(InputError) as e:
        load_config(Cfg, recipe)
    assert "unknown key 'inner.treshold'" in str(e.value) and str(recipe) in str(e.value)


def test_wrong_type_and_bad_yaml_are_input_errors(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("n: many\n")
    with pytest.raises(InputError, match=r"^n: .*r\.yaml"):
        load_config(Cfg, recipe)
    recipe.write_text("n: [1\n")
    with pytest.raises(InputError, match="invalid YAML"):
        load_config(Cfg, recipe)
    with pytest.raises(InputError, match="not found"):
        load_config(Cfg, tmp_path / "missing.yaml")
    recipe.write_text("# nothing set\n")
    with pytest.raises(InputError, match="the recipe is empty"):
        load_config(Cfg, recipe)


def test_section_of_a_pipeline_recipe(tmp_path: Path) -> None:
    recipe = tmp_path / "p.yaml"
    recipe.write_text("generate:\n  n: 3\nfilter:\n  bogus: 1\n")
    assert load_config(Cfg, recipe, section="generate").n == 3
    with pytest.raises(InputError, match=r"unknown key 'bogus' in .*section 'filter'"):
        load_config(Cfg, recipe, section="filter")
