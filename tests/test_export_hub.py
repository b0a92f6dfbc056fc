"""Hub-ready exports: every format's card round-trips through huggingface_hub's DatasetCardData and its configs load
the splits with `datasets`; one copy of the data; nulls stay nulls; system prompt, prompt/completion rows and a
`text` column rendered with a model's chat template."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from datagen.export.card_meta import size_category
from datagen.export.run import export_dataset
from tests.test_export import _dataset

FILES = {
    "jsonl": "{}.jsonl",
    "alpaca": "{}.json",
    "chatml": "{}.jsonl",
    "prompt-completion": "{}.jsonl",
    "hf": "data/{}.parquet",
}
SPLITS = {"train": 24, "validation": 3, "test": 3}


def rows(folder: Path, split: str = "train") -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / f"{split}.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("fmt", list(FILES))
def test_every_card_round_trips_and_its_configs_load_the_splits(store: Any, tmp_path: Path, fmt: str) -> None:
    from datasets import load_dataset
    from huggingface_hub import DatasetCard, DatasetCardData

    (name, version), _ = _dataset(store)
    out = tmp_path / fmt
    export_dataset(store, name, version, fmt, out, license="cc-by-4.0", language=["en", "fr"])

    card = DatasetCard.load(out / "README.md")
    meta = card.data.to_dict()
    assert DatasetCardData(**meta).to_dict() == meta
    assert {
        k: meta[k] for k in ("license", "language", "task_categories", "size_categories", "pretty_name")
    } == {
        "license": "cc-by-4.0",
        "language": ["en", "fr"],
        "task_categories": ["text-generation"],
        "size_categories": ["n<1K"],
        "pretty_name": f"{name} (version {version})",
    }
    assert meta["configs"] == [
        {
            "config_name": "default",
            "data_files": [{"split": s, "path": FILES[fmt].format(s)} for s in SPLITS],
        }
    ]
    assert card.text.lstrip().startswith(f"# {name} (version {version})")  # the body follows the header
    dd = load_dataset(str(out), cache_dir=str(tmp_path / "cache"))  # datasets caches a folder by its name
    assert {k: v.num_rows for k, v in dd.items()} == SPLITS


def test_the_hf_folder_holds_one_copy_of_the_data_and_nulls_stay_null(store: Any, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    (name, version), ids = _dataset(store)
    out = tmp_path / "hf"
    export_dataset(store, name, version, "hf", out)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "README.md",
        "data/test.parquet",
        "data/train.parquet",
        "data/validation.parquet",
        "scan.json",
    ]
    table = pq.read_table(out / "data" / "train.parquet")
    for split in ("validation", "test"):
        assert (
            pq.read_table(out / "data" / f"{split}.parquet").schema == table.schema
        )  # nulls keep their type
    by_id = {r["id"]: r for s in SPLITS for r in pq.read_table(out / "data" / f"{s}.parquet").to_pylist()}
    assert (by_id[ids[0]]["parent_id"], by_id[ids[0]]["operation"]) == (None, None)
    assert (by_id[ids[1]]["parent_id"], by_id[ids[1]]["operation"]) == (ids[0], "deepening")
    assert str(table.schema.field("parent_id").type) == "int64"


def test_system_prompt_and_prompt_completion_rows(store: Any, tmp_path: Path) -> None:
    from trl.data_utils import is_conversational

    (name, version), ids = _dataset(store)
    system = "You answer briefly."
    export_dataset(store, name, version, "chatml", tmp_path / "c", system_prompt=system)
    export_dataset(store, name, version, "prompt-completion", tmp_path / "pc", system_prompt=system)
    chat = {r["id"]: r for s in SPLITS for r in rows(tmp_path / "c", s)}
    assert chat[ids[0]]["messages"] == [
        {"role": "system", "content": system},
        {"role": "user", "content": "Translate to French.\n\nGood morning"},
        {"role": "assistant", "content": "Bonjour"},
    ]
    pc = {r["id"]: r for s in SPLITS for r in rows(tmp_path / "pc", s)}
    assert pc[ids[0]] == {
        "id": ids[0],
        "prompt": chat[ids[0]]["messages"][:2],
        "completion": [{"role": "assistant", "content": "Bonjour"}],
    }
    assert all(is_conversational(r) for r in pc.values())
    assert json.dumps(system) in (tmp_path / "pc" / "README.md").read_text()


def test_text_rendered_with_a_models_chat_template(store: Any, tmp_path: Path) -> None:
    from datasets import load_dataset
    from transformers import AutoTokenizer

    from tests.finetune_tiny import make_tokenizer

    model = make_tokenizer(tmp_path / "tok")
    tok = AutoTokenizer.from_pretrained(model)
    (name, version), _ = _dataset(store)
    export_dataset(
        store, name, version, "chatml", tmp_path / "c", chat_template=str(model), system_prompt="Hi."
    )
    export_dataset(store, name, version, "hf", tmp_path / "hf", chat_template=str(model))
    for r in rows(tmp_path / "c"):
        assert r["text"] == tok.apply_chat_template(r["messages"], tokenize=False)
        assert r["text"].startswith("<|im_start|>system\nHi.<|im_end|>\n")
    train = load_dataset(str(tmp_path / "hf"), cache_dir=str(tmp_path / "cache"))["train"]
    assert train[0]["text"] == tok.apply_chat_template(train[0]["messages"], tokenize=False)
    assert f"chat template of `{model}`" in (tmp_path / "hf" / "README.md").read_text()


def test_export_options_from_the_command_line(store: Any, tmp_path: Path, run_cli: Any) -> None:
    (name, _), _ = _dataset(store)
    out = tmp_path / "pc"
    res = run_cli("export", name, "--format", "prompt-completion", "--out", str(out), "--system-prompt", "Be kind.",
                  "--license", "apache-2.0", "--language", "en,de", "--pretty-name", "Kind answers")  # fmt: skip
    assert res.exit_code == 0, res.output
    head = (out / "README.md").read_text().split("\n---\n")[0]
    assert "license: apache-2.0" in head and "- de" in head and "pretty_name: Kind answers" in head
    assert rows(out)[0]["prompt"][0] == {"role": "system", "content": "Be kind."}
    both = run_cli("export", name, "--format", "chatml", "--out", str(tmp_path / "x"), "--chatml-text",
                   "--chat-template", "smollm2-135m-instruct")  # fmt: skip
    assert both.exit_code == 2 and "choose one" in both.output


def test_size_categories_follow_the_hubs_buckets() -> None:
    assert [size_category(n) for n in (0, 999, 1_000, 54_321, 2_000_000)] == [
        "n<1K",
        "n<1K",
        "1K<n<10K",
        "10K<n<100K",
        "1M<n<10M",
    ]


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """The loopback Hub, with huggingface_hub pointed at it (online, with its token, its day cache in tmp)."""
    from huggingface_hub import constants

    from tests.fake_hub import FakeHub

    with FakeHub() as fake:
        monkeypatch.setattr(constants, "ENDPOINT", fake.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(tmp_path / "agent_harnesses.json"))
        monkeypatch.setenv("HF_TOKEN", fake.token)
        yield fake


def test_push_to_hub_creates_the_repo_and_commits_the_folder(
    store: Any, tmp_path: Path, hub: Any, run_cli: Any
) -> None:
    (name, _), _ = _dataset(store)
    out = tmp_path / "hf"
    res = run_cli(
        "export", name, "--format", "hf", "--out", str(out), "--push-to-hub", "me/demo", "--private"
    )
    assert res.exit_code == 0, res.output
    repo = hub.repos["me/demo"]
    assert (repo.repo_type, repo.visibility, repo.commits) == (
        "dataset",
        "private",
        [f"datagen export {name}@1 (hf)"],
    )
    local = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert repo.files == local and "data/train.parquet" in local
    assert [v["repoType"] for v in hub.validated] == ["dataset"]  # the card passed the Hub's YAML check
    assert hub.unknown == [] and f"pushed to me/demo: {hub.url}/datasets/me/demo/commit/" in res.output

    again = run_cli(
        "export", name, "--format", "jsonl", "--out", str(tmp_path / "j"), "--push-to-hub", "me/demo"
    )
    assert again.exit_code == 0, again.output  # an existing repo is kept: a second commit
    assert len(repo.commits) == 2 and "train.jsonl" in repo.files


def test_push_refuses_unredacted_secrets_and_bad_tokens(store: Any, tmp_path: Path, hub: Any, run_cli: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from datagen.datasets.config import DatasetConfig
    from datagen.datasets.create import create_dataset
    from tests.review_data import Spec, insert, store_random_vectors

    run, ids = insert(
        store, [Spec(instruction="Mail", output="write to jane.doe@example.com"), Spec(instruction="Hi")]
    )
    store_random_vectors(store, ids)
    create_dataset(store, DatasetConfig(name="s", run=run, force=True))
    res = run_cli("export", "s", "--format", "jsonl", "--out", str(tmp_path / "a"), "--push-to-hub", "me/s")
    assert res.exit_code == 2 and "--redact" in res.output
    assert hub.calls == [] and not (tmp_path / "a").exists()
    ok = run_cli(
        "export", "s", "--format", "jsonl", "--out", str(tmp_path / "b"), "--push-to-hub", "me/s", "--redact"
    )
    assert ok.exit_code == 0, ok.output
    assert b"jane.doe@example.com" not in b"".join(hub.repos["me/s"].files.values())

    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    bad = run_cli(
        "export", "s", "--format", "jsonl", "--out", str(tmp_path / "c"), "--push-to-hub", "me/t", "--redact"
    )
    assert bad.exit_code == 2 and "pushing to me/t failed" in bad.output and "me/t" not in hub.repos
    lone = run_cli("export", "s", "--format", "jsonl", "--out", str(tmp_path / "d"), "--private")
    assert lone.exit_code == 2 and "--push-to-hub" in lone.output
