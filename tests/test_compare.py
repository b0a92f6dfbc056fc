"""What curation was worth: the uncurated counterpart of a dataset, the token budget, the paired comparison of
versions over seeds, and ``datagen compare`` end to end on a tiny model."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from datagen.datasets.catalog import show_dataset
from datagen.datasets.config import DatasetConfig
from datagen.datasets.create import GateRefused, create_dataset
from datagen.store.models import FILTERED_OUT, GENERATED, PARSE_FAILED
from finetune.compare import aggregate
from tests.review_data import Spec, insert, population, random_vectors, store_vectors


def test_uncurated_counterpart_takes_every_generated_record(store: Any) -> None:
    specs = [
        *population(10, 4),  # 10 kept, 4 filtered out
        Spec("Never filtered.", status=GENERATED),
        Spec("Could not parse.", status=PARSE_FAILED),
        Spec("No answer yet.", output="", status=GENERATED),
    ]
    run, ids = insert(store, specs)
    store_vectors(store, random_vectors(ids))
    with pytest.raises(GateRefused):  # nothing reviewed: the curated version is refused
        create_dataset(store, DatasetConfig(name="cur", run=run))
    name, version = create_dataset(store, DatasetConfig(name="raw", run=run, uncurated=True))
    info = show_dataset(store, name, version)
    assert info["counts"]["total"] == 15  # 10 kept + 4 filtered out + 1 never filtered
    assert info["counts"]["status"][FILTERED_OUT] == 4 and info["source"]["uncurated"] is True
    assert info["gate"]["passed"] is False and info["forced"] is False  # reported, not enforced
    _, v = create_dataset(store, DatasetConfig(name="cur", run=run, force=True))
    assert show_dataset(store, "cur", v)["counts"]["total"] == 10


def test_one_filter_and_one_operation_ablations(store: Any) -> None:
    specs = [
        *population(10, 0),  # kept: odd ones self_instruct, even ones evol_instruct/deepening
        Spec("Dropped by the judge only.", status=FILTERED_OUT,
             verdicts=[("judge", 0.1, False, "low_adherence", {}), ("perplexity", 20.0, True, "ok", {})]),
        Spec("Dropped by both.", status=FILTERED_OUT,
             verdicts=[("judge", 0.1, False, "low_adherence", {}), ("perplexity", 900.0, False, "too_high", {})]),
    ]  # fmt: skip
    run, ids = insert(store, specs)
    store_vectors(store, random_vectors(ids))
    _, v = create_dataset(
        store, DatasetConfig(name="nojudge", run=run, force=True, without_filters=["judge"])
    )
    info = show_dataset(store, "nojudge", v)
    assert info["counts"]["total"] == 11 and info["source"]["without_filters"] == ["judge"]
    _, v = create_dataset(
        store, DatasetConfig(name="nodeep", run=run, force=True, without_operations=["deepening"])
    )
    assert show_dataset(store, "nodeep", v)["counts"]["operations"] == {"-": 5}


def test_token_budget_subsample(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from finetune.budget import example_tokens, subsample_to_tokens
    from finetune.data import Example
    from tests.finetune_tiny import make_tokenizer

    tok = AutoTokenizer.from_pretrained(make_tokenizer(tmp_path / "tok"))
    exs = [Example(i, f"question {'word ' * i}", "", "the answer is " + "yes " * (i % 4)) for i in range(12)]
    sizes = [example_tokens(tok, e) for e in exs]
    assert subsample_to_tokens(tok, exs, sum(sizes), seed=0) == exs  # all fit
    budget = sum(sizes) // 2
    picked = subsample_to_tokens(tok, exs, budget, seed=0)
    used = sum(example_tokens(tok, e) for e in picked)
    assert used <= budget and used > budget - max(sizes)  # nearly used up
    assert [e.record_id for e in picked] == sorted(e.record_id for e in picked)  # record order kept
    assert (
        picked
        == subsample_to_tokens(tok, exs, budget, seed=0)
        != subsample_to_tokens(tok, exs, budget, seed=1)
    )


def _run(keys: list[str], tuned: list[float], base: list[float]) -> dict[str, Any]:
    return {"rouge_l": {"keys": keys, "tuned": tuned, "base": base}}


def test_aggregate_pairs_items_and_reports_the_spread_over_seeds() -> None:
    keys = [f"k{i}" for i in range(40)]
    base = [0.1] * 40
    raw = [_run(keys, [0.2] * 40, base), _run(keys, [0.3] * 40, base)]  # seeds: 0.2, 0.3
    cur = [_run(keys, [0.5] * 40, base), _run(keys, [0.4] * 40, base)]  # seeds: 0.5, 0.4
    out = aggregate(["raw@1", "cur@1"], {"raw@1": raw, "cur@1": cur}, rounds=200, seed=0)["rouge_l"]
    assert out["n"] == 40 and out["base"]["value"] == pytest.approx(0.1)
    assert (
        out["versions"]["raw@1"]["value"] == pytest.approx(0.25) and out["versions"]["cur@1"]["value"] == 0.45
    )
    d = out["vs_reference"]["cur@1"]
    assert (
        d["diff"] == pytest.approx(0.2) and d["diff_ci"] == pytest.approx([0.2, 0.2]) and d["distinguishable"]
    )
    assert d["per_seed"] == pytest.approx([0.3, 0.1]) and d["seed_sd"] == pytest.approx(math.sqrt(0.02))
    # items are paired by key: a version scored on fewer items (decontaminated) is compared on the common ones
    short = [_run(keys[:30], [0.5] * 30, base[:30])]
    out = aggregate(["raw@1", "cur@1"], {"raw@1": raw[:1], "cur@1": short}, rounds=200, seed=0)["rouge_l"]
    assert out["n"] == 30 and out["vs_reference"]["cur@1"]["per_seed"] == pytest.approx([0.3])
    # items without a value (accuracy on unlabelled items) are not counted
    part = [{"accuracy": {"keys": keys[:4], "tuned": [1.0, None, 0.0, None], "base": [0.0, None, 0.0, None]}}]
    acc = aggregate(["a@1", "b@1"], {"a@1": part, "b@1": part}, rounds=100, seed=0)["accuracy"]
    assert acc["n"] == 2 and acc["versions"]["b@1"]["value"] == 0.5


@pytest.mark.slow
def test_compare_two_versions_end_to_end(store: Any, tmp_path: Path, run_cli: Any) -> None:
    from tests.finetune_tiny import make_tiny_model, seed_dataset

    model = make_tiny_model(tmp_path / "tiny")
    seed_dataset(store, "small", splits=(4, 1, 1))
    seed_dataset(store, "big", splits=(8, 1, 1))
    evalfile = tmp_path / "eval.jsonl"
    evalfile.write_text(
        "".join(
            json.dumps({"instruction": q, "output": a, "task_type": t}) + "\n"
            for q, a, t in [("Name a colour.", "blue", "open"), ("Is fire hot?", "yes", "qa"),
                            ("Say the word dog.", "dog", "open"), ("Two plus two?", "four", "qa")]
        )
    )  # fmt: skip
    r = run_cli(
        "compare", "--dataset", "small", "--dataset", "big@1", "--eval", str(evalfile), "--repeats", "2",
        "--base-model", str(model), "--max-steps", "1", "--batch-size", "2", "--precision", "fp32",
        "--max-length", "128", "--max-new-tokens", "3", "--score-batch-size", "2", "--dtype", "float32",
        "--output-root", str(tmp_path / "cmp"), "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["versions"] == ["small@1", "big@1"] and out["seeds"] == [42, 43] and len(out["runs"]) == 4
    sizes = out["budget"]["sizes"]
    assert out["budget"]["max_train_tokens"] == sizes["small@1"]["tokens"] < sizes["big@1"]["tokens"]
    rouge = out["metrics"]["rouge_l"]
    assert rouge["n"] == 4 and set(rouge["versions"]) == {"small@1", "big@1"}
    assert len(rouge["vs_reference"]["big@1"]["per_seed"]) == 2
    assert Path(out["report"]).exists() and (Path(out["report"]).parent / "compare.png").exists()
    assert "Differences to small@1" in Path(out["report"]).read_text()
    # the big version trained on a subsample within the budget; its scores are listed by `dataset show`
    from datagen.store.models import TrainRun

    with store.session() as s:
        big = [s.get(TrainRun, x["train_run"]) for x in out["runs"] if x["version"] == "big@1"]
        assert all(t.metrics["subsample"]["records"] < 8 for t in big)
    shown = show_dataset(store, "big@1")["scores"]
    assert len(shown) == 2 and shown[0]["eval_set"] == "eval.jsonl" and "rouge_l" in shown[0]["metrics"]
    text = run_cli("dataset", "show", "big@1").stdout
    assert "score run" in text and "eval.jsonl" in text
