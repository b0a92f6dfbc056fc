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
