"""Evaluation sets: the builtin held-out set, files read and validated like `datagen import`, dataset versions,
storage by content hash, and the overlap with the training data."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from datagen.errors import InputError
from datagen.store.models import EvalSet, Run
from finetune.evalset import BUILTIN_EVAL, load_eval_set, read_file, save_eval_set


def _write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_builtin_set_covers_the_task_types_with_references(store: Any) -> None:
    evs = load_eval_set(store, "builtin")
    assert evs.size >= 120 and (evs.name, evs.source) == ("builtin", "builtin")
    types = Counter(i.task_type for i in evs.items)
    assert set(types) == {
        "open_generation",
        "rewriting",
        "extraction",
        "classification",
        "math_reasoning",
        "code",
    }
    assert min(types.values()) >= 20
    assert len({i.key for i in evs.items}) == evs.size and all(i.reference.strip() for i in evs.items)
    for i in evs.items:
        assert (i.task_type == "classification") == bool(i.labels)
        assert not i.labels or i.reference in i.labels
    assert len(evs.content_hash) == 64 and evs.content_hash == load_eval_set(store, "builtin").content_hash


def test_builtin_set_overlaps_no_seed_task() -> None:
    from datagen.generation.pool import BUILTIN_SEEDS
    from datagen.rouge import rouge_l_f1
    from datagen.textnorm import join_fields, normalize
    from filters.dedup_index import embedder, encode

    seeds = [json.loads(line) for line in BUILTIN_SEEDS.read_text().splitlines()]
    seed_prompts = [join_fields(s["instruction"], i["input"]) for s in seeds for i in s["instances"]]
    items = read_file(BUILTIN_EVAL)
    for item in items:
        assert max(rouge_l_f1(item.instruction, s["instruction"]) for s in seeds) <= 0.7, item.key
    prompts = [join_fields(i.instruction, i.input) for i in items]
    assert not {normalize(p) for p in prompts} & {normalize(p) for p in seed_prompts}
    enc = embedder("all-minilm-l6-v2")
    sims = encode(enc, prompts) @ encode(enc, seed_prompts).T
    assert float(sims.max()) < 0.9  # the dedup and overlap threshold


def test_builtin_set_ships_as_package_data() -> None:
    import tomllib

    cfg = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert "data/*" in cfg["tool"]["setuptools"]["package-data"]["datagen"]
    assert BUILTIN_EVAL.parent.name == "data" and BUILTIN_EVAL.parent.parent.name == "datagen"


def test_files_in_every_import_format(store: Any, tmp_path: Path) -> None:
    si = _write(tmp_path / "si.jsonl", [
        {"id": "t1", "instruction": "Is it hot or cold?", "is_classification": True,
         "instances": [{"input": "ice", "output": "cold"}, {"input": "fire", "output": "hot"}]},
        {"id": "t2", "instruction": "Say hi.", "instances": [{"input": "", "output": "Hi!"}], "motivation_app": "x"},
    ])  # fmt: skip
    items = load_eval_set(store, str(si)).items
    assert [(i.key, i.task_type, i.input, i.reference, i.labels) for i in items] == [
        ("t1#1", "classification", "ice", "cold", ("cold", "hot")),
        ("t1#2", "classification", "fire", "hot", ("cold", "hot")),
        ("t2#1", "general", "", "Hi!", ()),
    ]
    plain = _write(tmp_path / "p.jsonl", [
        {"id": "a", "instruction": "Topic?", "input": "goal!", "output": "sports", "task_type": "classification",
         "labels": ["sports", "politics"]},
        {"instruction": "Add 2 and 2.", "output": "4"},
    ])  # fmt: skip
    evs = load_eval_set(store, str(plain))
    assert (evs.name, evs.source) == ("p.jsonl", str(plain))
    assert [(i.key, i.task_type, i.labels) for i in evs.items] == [
        ("a", "classification", ("sports", "politics")),
        ("item_2", "general", ()),
    ]
    chat = _write(tmp_path / "c.jsonl", [{"messages": [{"role": "user", "content": "Hi?"},
                                                       {"role": "assistant", "content": "Hello."}]}])  # fmt: skip
    assert [(i.instruction, i.reference) for i in load_eval_set(store, str(chat)).items] == [
        ("Hi?", "Hello.")
    ]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"instruction": "a", "output": "b"}, "{not json"], "bad.jsonl:2: invalid JSON"),
        ([{"instruction": "No answer here."}], "bad.jsonl:1: an evaluation task needs a reference answer"),
        (
            [{"instruction": "q", "output": "c", "labels": ["a", "b"]}],
            "bad.jsonl:1: the reference answer 'c' is not",
        ),
        (
            [{"instruction": "q", "output": "a", "labels": "a,b"}],
            "bad.jsonl:1: field 'labels' must be a list",
        ),
        ([{"instruction": "q", "output": "a", "task_type": 3}], "bad.jsonl:1: field 'task_type' must be"),
        ([{"instruction": "q", "instances": []}], "bad.jsonl:1: field 'instances' must be a non-empty list"),
        (
            [{"messages": [{"role": "user", "content": "only a question"}]}],
            "bad.jsonl:1: an evaluation task needs",
        ),
        ([], "bad.jsonl: the file holds no valid records"),
    ],
)
def test_malformed_files_are_refused_with_file_and_line(
    store: Any, tmp_path: Path, rows: list[Any], message: str
) -> None:
    path = _write(tmp_path / "bad.jsonl", rows) if rows else tmp_path / "bad.jsonl"
    if not rows:
        path.write_text("")
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_eval_set(store, str(path))


def test_unknown_sources(store: Any) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_eval_set(store, "missing.jsonl")
    with pytest.raises(InputError, match="dataset 'nope' not found"):
        load_eval_set(store, "dataset:nope")


def test_dataset_versions_as_eval_sets_and_storage_by_hash(store: Any) -> None:
    from tests.finetune_tiny import seed_dataset

    seed_dataset(store, "tiny", splits=(6, 2, 2))
    whole, test = load_eval_set(store, "dataset:tiny@1"), load_eval_set(store, "dataset:tiny:test")
    assert (whole.name, whole.size, test.name, test.size) == ("tiny@1", 10, "tiny@1:test", 2)
    first = save_eval_set(store, test)
    assert (
        save_eval_set(store, load_eval_set(store, "dataset:tiny@1:test")) == first
    )  # same content, same row
    other = save_eval_set(store, whole)
    assert other != first
    with store.session() as s:
        row = s.get(EvalSet, first)
        assert (row.size, row.content_hash, len(row.items)) == (2, test.content_hash, 2)
        assert s.scalar(select(func.count()).select_from(EvalSet)) == 2
    with pytest.raises(InputError, match="has no records in split 'nosuch'"):
        load_eval_set(store, "dataset:tiny@1:nosuch")


def test_overlap_with_the_training_data(store: Any, tmp_path: Path) -> None:
    from finetune.overlap import measure_overlap
    from tests.finetune_tiny import seed_dataset

    ds = seed_dataset(store, "tiny", splits=(6, 2, 2))  # train QA[0..5], validation QA[6..7], test QA[8..9]
    evs = load_eval_set(store, str(_write(tmp_path / "e.jsonl", [
        {"id": "copy", "instruction": "what is the capital of  France?", "output": "Paris"},  # same text
        {"id": "near", "instruction": "Translate to French:", "input": "hello", "output": "bonjour"},
        {"id": "held", "instruction": "Give one even number.", "output": "Two."},  # a test-split record
        {"id": "new", "instruction": "Write a haiku about autumn rain on a tin roof.", "output": "..."},
    ])))  # fmt: skip
    ov = measure_overlap(store, list(evs.items), ds, threshold=0.9)
    found = {m["key"]: m for m in ov.matches}
    assert found["copy"]["match"] == "exact" and found["copy"]["cosine"] == 1.0
    assert found["near"]["match"] == "embedding" and found["near"]["cosine"] >= 0.9
    assert "held" not in found and "new" not in found  # the test split is not training data
    assert (ov.checked, ov.training_records) == (4, 8) and ov.as_dict()["share"] == 0.5
    again = measure_overlap(
        store, list(evs.items), ds, threshold=0.9
    )  # training vectors reused from the store
    assert again.matches == ov.matches


def test_score_refuses_a_malformed_eval_file_before_any_work(
    store: Any, tmp_path: Path, run_cli: Any
) -> None:
    from datagen.store.models import TrainRun
    from tests.finetune_tiny import seed_dataset

    ds = seed_dataset(store, "tiny")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    with store.session() as s:
        s.add(
            TrainRun(
                dataset_id=ds, base_model="x", method="lora", status="succeeded", adapter_path=str(adapter)
            )
        )
    bad = _write(
        tmp_path / "bad.jsonl", [{"instruction": "q", "output": "a"}, {"instruction": 5, "output": "b"}]
    )
    with store.session() as s:
        runs_before = s.scalar(select(func.count()).select_from(Run))
    r = run_cli("score", "--train-run", "1", "--eval", str(bad), "--no-use-judge")
    assert r.exit_code == 2 and f"{bad}:2: field 'instruction' must be a string" in r.stderr, r.output
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Run)) == runs_before
        assert s.scalar(select(func.count()).select_from(EvalSet)) == 0
