"""``datagen train`` and ``datagen score`` through the real CLI on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.finetune_tiny import make_tiny_model, seed_dataset


def test_train_unknown_dataset_exits_2(store: Any, run_cli: Any) -> None:
    r = run_cli("train", "--dataset", "missing@1", "--method", "lora")
    assert r.exit_code == 2 and "dataset 'missing@1' not found" in r.stderr


def test_train_recipe_with_unknown_key_exits_2(tmp_path: Path, run_cli: Any) -> None:
    (tmp_path / "r.yaml").write_text("train:\n  dataset: d\n  rank: 4\n")
    r = run_cli("train", "--recipe", str(tmp_path / "r.yaml"))
    assert r.exit_code == 2 and "unknown key 'rank'" in r.stderr


def test_score_unknown_train_run_exits_2(store: Any, run_cli: Any) -> None:
    r = run_cli("score", "--train-run", "7")
    assert r.exit_code == 2 and "train run 7 not found" in r.stderr


@pytest.mark.slow
def test_train_then_score_from_a_recipe(store: Any, tmp_path: Path, run_cli: Any) -> None:
    model = make_tiny_model(tmp_path / "tiny")
    seed_dataset(store, splits=(4, 1, 2))
    recipe = tmp_path / "pipeline.yaml"
    recipe.write_text(
        f"train:\n  dataset: tiny\n  base_model: {model}\n  method: qlora\n  max_steps: 3\n"
        "  per_device_train_batch_size: 2\n  effective_batch_size: 2\n  precision: fp32\n  max_length: 128\n"
        f"score:\n  train_run: 1\n  judge: {model}\n  max_new_tokens: 3\n"
    )
    r = run_cli("train", "--recipe", str(recipe), "--lr", "0.01", "--merge", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["train_run"], out["status"], out["method"], out["global_step"]) == (
        1,
        "succeeded",
        "qlora",
        3,
    )
    assert Path(out["merged_path"], "model.safetensors").exists() and "step 3/3" in r.stderr

    r = run_cli("score", "--recipe", str(recipe), "--max-examples", "1")
    assert r.exit_code == 0, r.stderr
    assert "train run 1 on tiny@1 (test, n=1)" in r.stdout and "win_rate" in r.stdout
    assert (Path(out["adapter_path"]).parent / "report.md").exists()
