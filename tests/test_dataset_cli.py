"""`datagen dataset create/list/show` and `datagen export` through the real CLI."""

from __future__ import annotations

import json

from tests.review_data import insert, population, store_random_vectors


def test_gate_via_cli_then_force_list_show_export(store, run_cli, tmp_path):
    run, ids = insert(store, population(30, 5))
    store_random_vectors(store, ids)
    res = run_cli("dataset", "create", "demo", "--from", f"run:{run}")
    assert res.exit_code == 1
    assert "review gate refused dataset demo from run 1" in res.stderr and "--force" in res.stderr
    assert run_cli("dataset", "list").stdout.startswith("no datasets yet")
    runs = json.loads(run_cli("runs", "--json").stdout)
    refused = [r for r in runs if r["kind"] == "dataset"]
    assert len(refused) == 1 and refused[0]["status"] == "failed"

    res = run_cli("dataset", "create", "demo", "--from", str(run), "--force")
    assert res.exit_code == 0, res.output
    assert "created demo@1: 30 records, splits {'train': 24, 'validation': 3, 'test': 3}" in res.stdout
    assert "FORCED past the review gate" in res.stdout

    assert run_cli("review", "--run", str(run), "--auto", "--min-count", "10").exit_code == 0
    res = run_cli("dataset", "create", "demo", "--from", f"run:{run}", "--json")
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert (info["version"], info["forced"], info["gate"]["passed"]) == (2, False, True)

    rows = json.loads(run_cli("dataset", "list", "--json").stdout)
    assert [(r["name"], r["version"], r["forced"]) for r in rows] == [("demo", 1, True), ("demo", 2, False)]
    assert "demo@1" in run_cli("dataset", "show", "demo@1").stdout

    res = run_cli("export", "demo@1", "--format", "alpaca", "--out", str(tmp_path / "a"), "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["dataset"] == "demo@1" and out["scan"]["findings"] == 0
    assert sorted(p.split("/")[-1] for p in out["files"]) == [
        "README.md", "scan.json", "test.json", "train.json", "validation.json",
    ]  # fmt: skip
    assert "Created with `--force`" in (tmp_path / "a" / "README.md").read_text()


def test_bad_from_and_unknown_dataset_exit_2(store, run_cli):
    assert run_cli("dataset", "create", "x", "--from", "nonsense").exit_code == 2
    res = run_cli("dataset", "show", "missing")
    assert res.exit_code == 2 and "dataset 'missing' not found (known datasets: " in res.stderr
    res = run_cli("dataset", "create", "bad name!", "--force")
    assert res.exit_code == 2 and "dataset name" in res.stderr
    res = run_cli("export", "missing", "--format", "jsonl")
    assert res.exit_code == 2
