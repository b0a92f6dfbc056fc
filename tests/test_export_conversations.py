"""Multi-turn conversations out: imported -> dataset version -> every export format -> ``datasets.load_dataset``
gives back every turn; prompt/completion rows, the system prompt, Alpaca's ``history``, the card, the secret scan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from datagen.datasets.config import DatasetConfig
from datagen.datasets.create import create_dataset
from datagen.export.run import export_dataset
from datagen.import_config import ImportConfig
from datagen.importer import import_file
from tests.test_export_hub import FILES

SYSTEM = {"role": "system", "content": "Be brief."}


def conv(*pairs: tuple[str, str], system: dict[str, str] | None = None) -> list[dict[str, str]]:
    turns = [system] if system else []
    for u, a in pairs:
        turns += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
    return turns


CONVERSATIONS = [
    conv(("Name a colour.", "Blue."), ("Another one?", "Red."), system=SYSTEM),
    conv(("Add 2 and 2.", "4"), ("Times 3?", "12"), ("Minus 1?", "11")),
    conv(("Capital of France?", "Paris."), system={"role": "system", "content": "Answer in English."}),
]
PLAIN = [("Translate to French.", "Good morning", "Bonjour"), ("Say hi.", "", "Hi!")]


def expected_turns() -> list[list[dict[str, str]]]:
    """Every record's turns in record id order (the import order)."""
    plain = [conv((f"{i}\n\n{x}" if x else i, o)) for i, x, o in PLAIN]
    return [*CONVERSATIONS, *plain]


def _dataset(store: Any, tmp_path: Path, extra: list[dict[str, Any]] | None = None) -> tuple[str, int]:
    path = tmp_path / "mixed.jsonl"
    items: list[dict[str, Any]] = [{"messages": c} for c in CONVERSATIONS]
    items[1] = {"conversations": [{"from": {"user": "human", "assistant": "gpt"}[t["role"]], "value": t["content"]}
                                  for t in CONVERSATIONS[1]]}  # fmt: skip
    items += [{"instruction": i, "input": x, "output": o} for i, x, o in PLAIN] + (extra or [])
    path.write_text("".join(json.dumps(x) + "\n" for x in items), encoding="utf-8")
    # one file, two conversation formats: import each line's format through its own file
    run_ids = []
    for k, line in enumerate(path.read_text().splitlines()):
        one = tmp_path / f"line{k}.jsonl"
        one.write_text(line + "\n", encoding="utf-8")
        run_ids.append(import_file(store, ImportConfig(path=str(one)))["run_id"])
    cfg = DatasetConfig(name="chats", run=run_ids[0], uncurated=True, splits={"train": 1.0})
    return _freeze(store, cfg, run_ids)


def _freeze(store: Any, cfg: DatasetConfig, run_ids: list[int]) -> tuple[str, int]:
    """A version over every imported record (the imports are sibling runs: parent them under the first)."""
    from datagen.store.models import Run

    with store.session() as s:
        for rid in run_ids[1:]:
            s.get(Run, rid).parent_run_id = run_ids[0]
    return create_dataset(store, cfg)


def turns_of_row(fmt: str, row: dict[str, Any]) -> list[dict[str, str]]:
    """The conversation a loaded export row holds, in each format's own columns."""
    if fmt in ("jsonl", "chatml", "hf"):
        return row["messages"]
    if fmt == "prompt-completion":
        return row["prompt"] + row["completion"]
    opening = [{"role": "system", "content": row["system"]}] if row["system"] else []
    earlier = [
        {"role": role, "content": text}
        for u, a in row["history"]
        for role, text in (("user", u), ("assistant", a))
    ]
    last = f"{row['instruction']}\n\n{row['input']}" if row["input"] else row["instruction"]
    return [
        *opening,
        *earlier,
        {"role": "user", "content": last},
        {"role": "assistant", "content": row["output"]},
    ]


@pytest.mark.parametrize("fmt", list(FILES))
def test_every_export_format_loads_back_every_turn(store: Any, tmp_path: Path, fmt: str) -> None:
    from datasets import load_dataset

    name, version = _dataset(store, tmp_path)
    out = tmp_path / fmt
    export_dataset(store, name, version, fmt, out)
    train = load_dataset(str(out), cache_dir=str(tmp_path / "cache"))["train"]
    assert [turns_of_row(fmt, r) for r in train] == expected_turns()
    card = (out / "README.md").read_text()
    assert (
        "Multi-turn conversations: 2 of 5 records (up to 3 user turns); with a system turn of their own: 2."
        in card
    )


def test_single_turn_columns_of_a_conversation(store: Any, tmp_path: Path) -> None:
    """instruction = first user turn, output = last answer (what single-turn consumers and filters read)."""
    from datasets import load_dataset

    name, version = _dataset(store, tmp_path)
    export_dataset(store, name, version, "hf", tmp_path / "hf")
    train = load_dataset(str(tmp_path / "hf"), cache_dir=str(tmp_path / "cache"))["train"]
    assert [(r["instruction"], r["input"], r["output"]) for r in train][:3] == [
        ("Name a colour.", "", "Red."),
        ("Add 2 and 2.", "", "11"),
        ("Capital of France?", "", "Paris."),
    ]


def test_alpaca_holds_turns_in_llama_factory_history(store: Any, tmp_path: Path) -> None:
    name, version = _dataset(store, tmp_path)
    export_dataset(store, name, version, "alpaca", tmp_path / "a")
    rows = json.loads((tmp_path / "a" / "train.json").read_text())
    assert rows[1] == {
        "instruction": "Minus 1?",
        "input": "",
        "output": "11",
        "system": "",
        "history": [["Add 2 and 2.", "4"], ["Times 3?", "12"]],
    }
    # LLaMA-Factory's columns read back as the same conversations: re-importing the export adds nothing
    summary = import_file(store, ImportConfig(path=str(tmp_path / "a" / "train.json")))
    assert (summary["format"], summary["imported"], summary["already_present"]) == ("alpaca", 0, 5)
    assert rows[3] == {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour",
                       "system": "", "history": []}  # fmt: skip


def test_prompt_completion_prompt_is_every_turn_before_the_last_answer(store: Any, tmp_path: Path) -> None:
    from trl.data_utils import is_conversational

    name, version = _dataset(store, tmp_path)
    export_dataset(store, name, version, "prompt-completion", tmp_path / "pc")
    rows = [json.loads(x) for x in (tmp_path / "pc" / "train.jsonl").read_text().splitlines()]
    assert rows[0]["prompt"] == CONVERSATIONS[0][:-1] and rows[0]["completion"] == CONVERSATIONS[0][-1:]
    assert all(is_conversational(r) for r in rows)


def test_system_prompt_opens_conversations_without_their_own(store: Any, tmp_path: Path) -> None:
    name, version = _dataset(store, tmp_path)
    export_dataset(store, name, version, "chatml", tmp_path / "c", system_prompt="Hi.", chatml_text=False)
    rows = [json.loads(x) for x in (tmp_path / "c" / "train.jsonl").read_text().splitlines()]
    assert [r["messages"][0]["content"] for r in rows] == [
        "Be brief.",
        "Hi.",
        "Answer in English.",
        "Hi.",
        "Hi.",
    ]
    assert [r["messages"][1:] for r in rows[1:2]] == [CONVERSATIONS[1]]
    card = (tmp_path / "c" / "README.md").read_text()
    assert (
        'opens with the system prompt "Hi." (conversations with a system turn of their own keep it: 2).'
        in card
    )


def test_chatml_text_renders_every_turn(store: Any, tmp_path: Path) -> None:
    name, version = _dataset(store, tmp_path)
    export_dataset(store, name, version, "chatml", tmp_path / "c", chatml_text=True)
    first = json.loads((tmp_path / "c" / "train.jsonl").read_text().splitlines()[0])
    assert first["text"] == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nName a colour.<|im_end|>\n"
        "<|im_start|>assistant\nBlue.<|im_end|>\n<|im_start|>user\nAnother one?<|im_end|>\n"
        "<|im_start|>assistant\nRed.<|im_end|>\n"
    )


def test_a_secret_in_a_middle_turn_is_found_and_redacted(store: Any, tmp_path: Path) -> None:
    leak = conv(("Who do I write to?", "Write to jane.doe@example.com."), ("Thanks!", "You are welcome."))
    name, version = _dataset(store, tmp_path, [{"messages": leak}])
    export_dataset(store, name, version, "chatml", tmp_path / "c", redact=True)
    scan = json.loads((tmp_path / "c" / "scan.json").read_text())
    assert (scan["findings"], scan["by_field"]) == (1, {"assistant": 1})
    rows = [json.loads(x) for x in (tmp_path / "c" / "train.jsonl").read_text().splitlines()]
    assert rows[-1]["messages"][1]["content"] == "Write to [REDACTED_EMAIL]."
    assert "jane.doe" not in (tmp_path / "c" / "train.jsonl").read_text()


def test_the_version_records_how_many_are_multi_turn_and_hashes_their_content(
    store: Any, tmp_path: Path
) -> None:
    from datagen.datasets.catalog import show_dataset

    name, version = _dataset(store, tmp_path)
    info = show_dataset(store, name, version)
    assert info["counts"]["multi_turn"] == 2
    assert len(info["source"]["content_sha256"]) == 64
