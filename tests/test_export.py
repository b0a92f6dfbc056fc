"""Exports round-trip through `datasets` and a chat template; Alpaca keys are exact; the card says what it must."""

from __future__ import annotations

import json

import pytest

from datagen.datasets.config import DatasetConfig
from datagen.datasets.create import create_dataset
from datagen.errors import InputError
from datagen.export.formats import render_chatml
from datagen.export.run import export_dataset
from datagen.review.auto import auto_review
from datagen.review.config import ReviewConfig
from datagen.review.sample import create_sample
from tests.review_data import Spec, insert, population, store_random_vectors


def _dataset(store, n=30):
    specs = population(n, 5)
    specs[0] = Spec(instruction="Translate to French.", input="Good morning", output="Bonjour",
                    verdicts=specs[0].verdicts)  # fmt: skip
    specs[1] = Spec(instruction="Evolved task", method="evol_instruct", operation="deepening", parent=0,
                    verdicts=specs[1].verdicts)  # fmt: skip
    run, ids = insert(store, specs)
    store_random_vectors(store, ids)
    sid = create_sample(store, ReviewConfig(min_count=10, filtered_fraction=0.2), {"run": run})
    auto_review(store, sid)
    return create_dataset(store, DatasetConfig(name="demo", run=run)), ids


def _load_json(files):
    from datasets import load_dataset

    return load_dataset("json", data_files={p.stem: str(p) for p in files})


def test_jsonl_round_trip(store, tmp_path):
    (name, version), ids = _dataset(store)
    paths = export_dataset(store, name, version, "jsonl", tmp_path / "out")
    data = [p for p in paths if p.suffix == ".jsonl"]
    dd = _load_json(data)
    assert {k: len(v) for k, v in dd.items()} == {"train": 24, "validation": 3, "test": 3}
    row = next(r for split in dd.values() for r in split if r["id"] == ids[0])
    assert (row["instruction"], row["input"], row["output"]) == (
        "Translate to French.",
        "Good morning",
        "Bonjour",
    )
    assert set(dd["train"].column_names) == {"id", "instruction", "input", "output"}


def test_alpaca_has_exactly_the_alpaca_keys(store, tmp_path):
    (name, version), _ = _dataset(store)
    paths = export_dataset(store, name, version, "alpaca", tmp_path / "out")
    files = [p for p in paths if p.suffix == ".json" and p.name != "scan.json"]
    assert sorted(p.name for p in files) == ["test.json", "train.json", "validation.json"]
    for p in files:
        for row in json.loads(p.read_text()):
            assert list(row) == ["instruction", "input", "output"]
    assert _load_json(files)["train"].num_rows == 24


@pytest.mark.slow
def test_chatml_loads_and_renders_with_smollm2_template(store, tmp_path):
    from transformers import AutoTokenizer

    from datagen import modelhub

    (name, version), ids = _dataset(store)
    paths = export_dataset(store, name, version, "chatml", tmp_path / "out", chatml_text=True)
    dd = _load_json([p for p in paths if p.suffix == ".jsonl"])
    tok = AutoTokenizer.from_pretrained(modelhub.resolve(modelhub.SMOLLM2))
    row = next(r for split in dd.values() for r in split if r["id"] == ids[0])
    assert row["messages"] == [
        {"role": "user", "content": "Translate to French.\n\nGood morning"},
        {"role": "assistant", "content": "Bonjour"},
    ]
    rendered = tok.apply_chat_template(row["messages"], tokenize=False)
    system_end = rendered.index("<|im_end|>\n") + len("<|im_end|>\n")
    assert rendered.startswith("<|im_start|>system\n")
    assert rendered[system_end:] == row["text"] == render_chatml(row["messages"])
    enc = tok.apply_chat_template(row["messages"], tokenize=True)
    assert tok.decode(enc["input_ids"]) == rendered


def test_hf_parquet_and_card(store, tmp_path):
    from datasets import load_dataset

    (name, version), _ = _dataset(store)
    out = tmp_path / "hf"
    export_dataset(store, name, version, "hf", out)
    dd = load_dataset(str(out), cache_dir=str(tmp_path / "cache"))  # the splits the card's configs name
    assert {k: v.num_rows for k, v in dd.items()} == {"train": 24, "validation": 3, "test": 3}
    pq = load_dataset("parquet", data_files={s: str(out / "data" / f"{s}.parquet") for s in dd})
    assert pq["train"]["instruction"] == dd["train"]["instruction"]
    assert dd["train"][0]["messages"][0]["role"] == "user"
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "configs:\n- config_name: default\n  data_files:" in card
    assert "| train | 24 |" in card and "| validation | 3 |" in card
    assert "| evol_instruct | deepening |" in card
    assert "SmolLM2 (Hugging Face TB): Apache-2.0 license." in card
    assert "| judge | 1 | 30 | 30 | 0.5 |" in card
    assert "acceptance (as is): 100.0% (10/10; Wilson 95% CI 72.2%–100.0%)" in card
    assert "human decisions 0, automatic 10" in card
    assert "records derived from a parent: 1 of 30" in card
    assert "found nothing" in card
    assert "records no one reviewed are included" in card
    assert "`assistant_only_loss=True`" in card and "`{% generation %}` markers" in card


def test_secret_scan_redact_and_report(store, tmp_path):
    keys = {
        "openai": "sk-proj-Abcdefghijklmnopqrstuvwxyz0123456789",
        "aws": "AKIAIOSFODNN7EXAMPLE",
        "email": "jane.doe@example.com",
        "phone": "+1 (555) 123-4567",
        "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----",
    }
    specs = [
        Spec(instruction="Use this key", output=f"export OPENAI_API_KEY={keys['openai']} now"),
        Spec(instruction="Contact", input=f"mail {keys['email']} or call {keys['phone']}", output="ok"),
        Spec(instruction="Config", output=f"aws_access_key_id = {keys['aws']}\n{keys['pem']}"),
        Spec(instruction="Dates are fine", output="On 2024-01-15 pi was 3.14159, version 1.2.3, call 12345."),
    ]
    run, ids = insert(store, specs)
    store_random_vectors(store, ids)
    create_dataset(store, DatasetConfig(name="s", run=run, force=True))
    plain = export_dataset(store, "s", None, "jsonl", tmp_path / "plain")
    scan = json.loads(next(p for p in plain if p.name == "scan.json").read_text())
    assert scan["by_kind"] == {"aws_access_key": 1, "email": 1, "openai_key": 1, "phone": 1, "private_key": 1}
    assert scan["records"] == sorted(ids[:3], key=str)
    text = "".join(p.read_text() for p in plain if p.suffix == ".jsonl")
    assert keys["aws"] in text
    assert "**left in place**" in (tmp_path / "plain" / "README.md").read_text()

    red = export_dataset(store, "s", None, "jsonl", tmp_path / "red", redact=True)
    text = "".join(p.read_text() for p in red if p.suffix == ".jsonl")
    for v in keys.values():
        assert v.splitlines()[0] not in text
    for marker in ("OPENAI_KEY", "AWS_ACCESS_KEY", "EMAIL", "PHONE", "PRIVATE_KEY"):
        assert f"[REDACTED_{marker}]" in text
    assert "2024-01-15 pi was 3.14159, version 1.2.3, call 12345." in text
    assert "replaced with `[REDACTED_<KIND>]`" in (tmp_path / "red" / "README.md").read_text()


def test_export_refuses_bad_format_and_non_empty_folder(store, tmp_path):
    (name, version), _ = _dataset(store)
    with pytest.raises(InputError, match="unknown export format"):
        export_dataset(store, name, version, "csv", tmp_path / "x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        export_dataset(store, name, version, "jsonl", tmp_path / "full")
    with pytest.raises(InputError, match=r"cannot write the export folder .* is not a writable folder"):
        export_dataset(store, name, version, "jsonl", tmp_path / "full" / "f" / "out")  # under a file


def test_export_cli_refuses_conflicting_versions(store, run_cli, tmp_path):
    (name, version), _ = _dataset(store)
    r = run_cli("export", f"{name}@{version}", "--version", str(version + 1), "--format", "jsonl")
    assert r.exit_code == 2 and "name different versions" in r.stderr
    r = run_cli("dataset", "show", f"{name}@")
    assert r.exit_code == 2 and "version must be a number" in r.stderr
