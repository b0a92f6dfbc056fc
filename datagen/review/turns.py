"""What a reviewer sees of a conversation: one panel per turn, headed by its role and place.

``turn_panels(view)`` is what the review TUI prints instead of the instruction/input/output panels when the
record holds a multi-turn conversation (``view["messages"]``); a reviewer's edit changes the first user turn
(``instruction``) and the last answer (``output``), the panels say which those are.
"""

from __future__ import annotations

from typing import Any

from rich.panel import Panel
from rich.text import Text

STYLES = {"system": "magenta", "user": "cyan", "assistant": "green"}


def turn_titles(messages: list[dict[str, str]]) -> list[str]:
    """A title per turn: ``user 1/3``, ``assistant 3/3 (output)``, ``system``; the first user turn is marked
    ``(instruction)`` and the last answer ``(output)``, the two a reviewer's edit changes."""
    users = sum(t["role"] == "user" for t in messages)
    last_answer = max((k for k, t in enumerate(messages) if t["role"] == "assistant"), default=-1)
    titles, n = [], {"user": 0, "assistant": 0}
    for k, t in enumerate(messages):
        role = t["role"]
        if role == "system":
            titles.append("system")
            continue
        n[role] += 1
        title = f"{role} {n[role]}/{users}"
        if role == "user" and n[role] == 1:
            title += " (instruction)"
        if k == last_answer:
            title += " (output)"
        titles.append(title)
    return titles


def turn_panels(view: dict[str, Any]) -> list[Panel]:
    """One panel per turn of ``view["messages"]`` (the text as written: never parsed as rich markup)."""
    messages = view["messages"]
    return [
        Panel(
            Text(t["content"] or "(empty)"), title=title, title_align="left", border_style=STYLES[t["role"]]
        )
        for t, title in zip(messages, turn_titles(messages), strict=True)
    ]
