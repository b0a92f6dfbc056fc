"""What the review UI shows for one item: its header, instruction, body (record or every turn of a conversation,
lineage, filter scores with each filter's pass rule) and the key help. Record text is always ``Text``, never parsed as rich markup."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from datagen.review.screen import SCROLL_HELP, Frame
from datagen.review.session import REASON_CODES, SampleItemView
from datagen.review.turns import turn_panels

HELP = "[a]ccept [r]eject [e]dit [s]kip [n]ote [u]ndo [q]uit [?]keys"
KEYS = f"""Keys
  a        accept the record as it is
  r        reject it, then a reason: {"  ".join(f"{i} {c}" for i, c in enumerate(REASON_CODES, 1))}
  e        edit it in $VISUAL / $EDITOR (field by field when neither is set); saves a new revision
  s        skip it: it comes back at the end of the queue
  n        write a note for this item, saved with its decision (again: replace it; empty: clear it)
  N        write or replace the note of the last saved decision
  u        undo the last saved decision (the item comes back, with its note)
  q        quit; every decision is already saved: resume later
  {SCROLL_HELP}; also the arrow keys, PgDn/PgUp, g/G top and bottom
  ?        show or hide this help"""
REASON_PROMPT = (
    "Reason? " + " ".join(f"{i} {c}" for i, c in enumerate(REASON_CODES, 1)) + " · n note · Esc cancels"
)


def header(
    item: SampleItemView,
    view: dict[str, Any],
    total: int,
    counts: tuple[int, int],
    again: bool,
    note: str | None,
) -> list[str]:
    """Position, record and progress; the stratum; the pending note."""
    decided, skipped = counts
    first = f"Item {item.position + 1}/{total} · record {view['id']} · decided {decided}/{total}"
    first += f" · skipped {skipped}" if skipped else ""
    first += " · skipped before" if again else ""
    second = f"stratum {item.stratum}"
    if item.from_filtered:
        second += " · dropped by the filters"
    return [first, second] + ([f"note: {note}"] if note else [])


def body(view: dict[str, Any], from_filtered: bool) -> list[RenderableType]:
    parts: list[RenderableType] = []
    if from_filtered:
        parts.append(
            Text(
                "Dropped by the filters: deciding here measures them; it does not rescue the record.",
                style="yellow",
            )
        )
    parts.append(
        Text(
            f"{view['method']}/{view['operation'] or '-'} round {view['round']}, model {view['model'] or '-'}"
        )
    )
    if view["lineage"]:
        chain = " <- ".join(f"#{p['id']} {p['method']}/{p['operation'] or '-'}" for p in view["lineage"])
        parts.append(Text(f"lineage: {chain}"))
        parent = view["lineage"][0]["text"]
        parts.append(Text(f"parent: {parent[:300]}{'…' if len(parent) > 300 else ''}", style="dim"))
    if view.get("messages"):  # a conversation: every turn, the first question and the last answer marked
        parts.extend(turn_panels(view))
    else:
        if view["input"]:
            parts.append(Panel(Text(view["input"]), title="input", title_align="left"))
        parts.append(Panel(Text(view["output"] or "(empty)"), title="output", title_align="left"))
    if view["verdicts"]:
        parts.append(verdict_table(view["verdicts"]))
    return parts


def verdict_table(verdicts: list[dict[str, Any]]) -> Table:
    """Each filter's score beside its pass rule (``<= 100``: the score passes at or below 100)."""
    table = Table("filter", "score", "passes", "ok", "reason", box=None, pad_edge=False)
    for v in verdicts:
        score = "-" if v["score"] is None else f"{v['score']:.4g}"
        table.add_row(v["filter"], score, v["limit"] or "-", "yes" if v["passed"] else "NO", v["reason"])
    return table


def frame(
    item: SampleItemView,
    view: dict[str, Any],
    total: int,
    counts: tuple[int, int],
    *,
    again: bool = False,
    note: str | None = None,
    message: str = "",
    show_keys: bool = False,
) -> Frame:
    return Frame(
        header=header(item, view, total, counts, again, note),
        instruction=view["instruction"],
        body=[Text(KEYS)] if show_keys else body(view, item.from_filtered),
        help=HELP,
        message=message,
    )
