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


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("/nonexistent/model", "no such folder, and not a Hugging Face id"),
        ("{tmp}", "is not a model folder (no config.json)"),
        ("someorg/not-cached-model", "not in the Hugging Face cache, and this machine is offline"),
    ],
)
def test_train_with_a_model_that_cannot_load_exits_2_before_any_work(
    store: Any, tmp_path: Path, run_cli: Any, model: str, message: str
) -> None:
    seed_dataset(store, "d")
    out = tmp_path / "out"
    r = run_cli("train", "--dataset", "d", "--base-model", model.replace("{tmp}", str(tmp_path)),
                "--output-root", str(out))  # fmt: skip
    assert r.exit_code == 2 and message in r.stderr, r.output
    assert not out.exists() and json.loads(run_cli("runs", "--json", "--kind", "train").stdout) == []


def test_pipeline_with_a_base_model_that_cannot_load_fails_before_any_stage(
    tmp_path: Path, run_cli: Any
) -> None:
    (tmp_path / "p.yaml").write_text("name: p\ntrain:\n  base_model: /nonexistent/model\n")
    r = run_cli("pipeline", "--recipe", str(tmp_path / "p.yaml"), "--review", "auto")
    assert r.exit_code == 2 and "train.base_model '/nonexistent/model'" in r.stderr
    assert json.loads(run_cli("runs", "--json").stdout) == []


def test_score_unknown_train_run_exits_2(store: Any, run_cli: Any) -> None:
    r = run_cli("score", "--train-run", "7")
    assert r.exit_code == 2 and "train run 7 not found" in r.stderr


@pytest.mark.slow
def test_train_then_score_from_a_recipe(store: Any, tmp_path: Path, run_cli: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("DATAGEN_HEARTBEAT_S", "0.05")  # progress lines while training, and a closing one
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
    assert Path(out["merged_path"], "model.safetensors").exists() and "3/3 steps" in r.stderr

    r = run_cli("score", "--recipe", str(recipe), "--max-examples", "1")
    assert r.exit_code == 0, r.stderr
    assert "train run 1 (tiny@1) on eval set tiny@1:test" in r.stdout and "n=1)" in r.stdout
    assert "rouge_l" in r.stdout and ("win-rate" in r.stdout or "no win-rate reported" in r.stdout)
    assert (Path(out["adapter_path"]).parent / "report.md").exists()
