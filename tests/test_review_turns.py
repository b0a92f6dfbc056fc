"""The review shows a conversation's turns: one panel per turn, the first question and the last answer (the two
an edit changes) marked; an edit of a conversation keeps its other turns."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from datagen.conversation import record_hash, with_fields
from datagen.review.turns import turn_panels, turn_titles

TURNS = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Name a colour."},
    {"role": "assistant", "content": "Blue."},
    {"role": "user", "content": "Another one? [red]"},
    {"role": "assistant", "content": "Red."},
]


def test_each_turn_is_a_titled_panel_with_its_text_as_written() -> None:
    assert turn_titles(TURNS) == [
        "system",
        "user 1/2 (instruction)",
        "assistant 1/2",
        "user 2/2",
        "assistant 2/2 (output)",
    ]
    console = Console(record=True, width=60, color_system=None)
    console.print(*turn_panels({"messages": TURNS}))
    shown = console.export_text()
    assert "Another one? [red]" in shown  # brackets are text, not markup
    assert [t for t in turn_titles(TURNS) if t in shown] == turn_titles(TURNS)


def test_an_edit_changes_the_first_question_and_the_last_answer_only() -> None:
    edited: Any = with_fields(TURNS, "Name a colour, please.", "", "Green.")
    assert edited == [TURNS[0], {"role": "user", "content": "Name a colour, please."}, TURNS[2], TURNS[3],
                      {"role": "assistant", "content": "Green."}]  # fmt: skip
    assert record_hash("", "", "", edited) != record_hash("", "", "", TURNS)


def test_a_reviewed_conversation_shows_its_turns_and_an_edit_keeps_them(store: Any, tmp_path: Any) -> None:
    import json

    from datagen.datasets.config import DatasetConfig
    from datagen.datasets.create import create_dataset
    from datagen.export.run import export_dataset
    from datagen.import_config import ImportConfig
    from datagen.importer import import_file
    from datagen.review.config import ReviewConfig
    from datagen.review.sample import create_sample
    from datagen.review.session import ReviewDecision, ReviewSession
    from datagen.review.sheet import export_sheet
    from datagen.store.models import CANDIDATE, Record

    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps({"messages": TURNS}) + "\n", encoding="utf-8")
    run = import_file(store, ImportConfig(path=str(path)))["run_id"]
    with store.session() as s:
        for r in s.query(Record).all():
            r.status = CANDIDATE  # as the filter chain leaves a kept record
    sid = create_sample(store, ReviewConfig(fraction=1.0, min_count=1, filtered_fraction=0), {"run": run})
    alice = ReviewSession(store, sid, "alice")
    rid = alice.items[0].record_id
    assert alice.view(rid)["messages"] == TURNS
    assert export_sheet(store, sid, tmp_path / "s.jsonl") == 1
    row = json.loads((tmp_path / "s.jsonl").read_text())
    assert row["turns"] == (
        "System: Be brief.\n\nUser: Name a colour.\n\nAssistant: Blue.\n\nUser: Another one? [red]\n\nAssistant: Red."
    )
    alice.decide(ReviewDecision(rid, "edit", edit={"output": "Green."}))
    name, version = create_dataset(store, DatasetConfig(name="c", run=run, acceptance_floor=0.0,
                                                        splits={"train": 1.0}))  # fmt: skip
    export_dataset(store, name, version, "chatml", tmp_path / "out")
    [line] = (tmp_path / "out" / "train.jsonl").read_text().splitlines()
    assert json.loads(line)["messages"] == [*TURNS[:-1], {"role": "assistant", "content": "Green."}]
