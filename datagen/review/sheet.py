"""The offline round-trip: export a sample as a sheet (JSONL or CSV), fill it anywhere, import it back.

Columns: ``sample_id, position, record_id, stratum, from_filtered, instruction, input, output, turns, scores``
(read only; ``turns`` is every turn of a multi-turn conversation, each headed by its role, else blank: an edit
changes the first user turn, ``instruction``, and the last answer, ``output``) and ``decision, reason_code, note, edited_instruction, edited_input, edited_output`` (to fill). A blank
decision leaves the item undecided. For ``edit``, a non-empty edited field replaces the original field; a blank
one keeps it. Import validates every row first (the sheet's sample, known record ids, no repeats, decisions
and reason codes) and applies everything in one transaction: a bad sheet changes nothing.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from datagen.conversation import is_multi_turn, transcript
from datagen.errors import InputError
from datagen.fsutil import check_writable
from datagen.review.scope import load_records
from datagen.review.session import FIELDS, ReviewDecision, ReviewSession, validate
from datagen.review.verdicts import latest_verdicts
from datagen.store.engine import Store

COLUMNS = (
    "sample_id", "position", "record_id", "stratum", "from_filtered", "instruction", "input", "output", "turns",
    "scores",
    "decision", "reason_code", "note", "edited_instruction", "edited_input", "edited_output",
)  # fmt: skip


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        raise InputError(f"{path}: a sheet is .jsonl or .csv")
    return suffix[1:]


def check_sheet_path(path: str | Path) -> str:
    """A new sheet's path is usable: .jsonl or .csv, writable, and no sheet there yet (one may hold decisions
    that are not imported). Returns the format."""
    path = Path(path)
    fmt = _format(path)
    if path.exists():
        raise InputError(
            f"{path} exists (it may hold decisions not imported yet): write the sheet to a new file"
        )
    check_writable(path, "review sheet")
    return fmt


def export_sheet(store: Store, sample_id: int, path: str | Path) -> int:
    """Write the sample as a sheet; returns the number of rows."""
    path = Path(path)
    fmt = check_sheet_path(path)
    session = ReviewSession(store, sample_id, reviewer="-")
    ids = [it.record_id for it in session.items]
    with store.session() as s:
        recs = {r.id: r for r in load_records(s, set(ids))}
        verdicts = latest_verdicts(s, ids)
    rows = []
    for it in session.items:
        r = recs[it.record_id]
        scores = {n: v.score for n, v in sorted(verdicts[it.record_id].items())}
        rows.append(
            {
                "sample_id": sample_id,
                "position": it.position,
                "record_id": r.id,
                "stratum": it.stratum,
                "from_filtered": it.from_filtered,
                "instruction": r.instruction,
                "input": r.input,
                "output": r.output,
                "turns": transcript(r.messages) if is_multi_turn(r.messages) and r.messages else "",
                "scores": json.dumps(scores),
                "decision": "",
                "reason_code": "",
                "note": "",
                "edited_instruction": "",
                "edited_input": "",
                "edited_output": "",
            }
        )
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    else:
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS)
            w.writeheader()
            w.writerows(rows)
    return len(rows)


def read_sheet(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, row) pairs; malformed lines raise InputError naming the line."""
    path = Path(path)
    fmt = _format(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # spreadsheets often save CSV with a BOM
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read: {e}") from e
    out: list[tuple[int, dict[str, Any]]] = []
    if fmt == "jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{n}: invalid JSON: {e.msg}") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}:{n}: each line must be a JSON object")
            out.append((n, row))
    else:
        reader = csv.DictReader(text.splitlines())
        missing = {"sample_id", "record_id", "decision"} - set(reader.fieldnames or [])
        if missing:
            raise InputError(f"{path}: missing columns {sorted(missing)}")
        out = [(n, dict(row)) for n, row in enumerate(reader, 2)]
    return out


def _int(value: Any, what: str, where: str) -> int:
    try:
        number = float(str(value).strip())  # a spreadsheet may write 12 as 12.0
    except (TypeError, ValueError):
        number = float("nan")
    if not number.is_integer():
        raise InputError(f"{where}: {what} must be a whole number, got {value!r}")
    return int(number)


def parse_decisions(
    path: str | Path, sample_id: int | None
) -> tuple[int, list[ReviewDecision], dict[int, int]]:
    """Validate a sheet without the database; returns (sample id, decisions, record id -> line)."""
    rows = read_sheet(path)
    if not rows:
        raise InputError(f"{path}: the sheet has no rows")
    sheet_ids = {_int(r.get("sample_id"), "sample_id", f"{path}:{n}") for n, r in rows}
    if len(sheet_ids) > 1:
        raise InputError(f"{path}: rows from several samples {sorted(sheet_ids)}")
    sheet_sample = sheet_ids.pop()
    if sample_id is not None and sheet_sample != sample_id:
        raise InputError(f"{path} is a sheet for review sample {sheet_sample}, not sample {sample_id}")
    decisions: list[ReviewDecision] = []
    seen: dict[int, int] = {}
    for n, r in rows:
        where = f"{path}:{n}"
        rid = _int(r.get("record_id"), "record_id", where)
        if rid in seen:
            raise InputError(f"{where}: record {rid} appears twice")
        seen[rid] = n
        decision = str(r.get("decision") or "").strip().lower()
        if not decision:
            continue
        edit = None
        if decision == "edit":
            edit = {
                f: str(r.get(f"edited_{f}") or "") for f in FIELDS if str(r.get(f"edited_{f}") or "").strip()
            }
        d = ReviewDecision(
            record_id=rid,
            decision=decision,
            reason_code=(str(r.get("reason_code") or "").strip() or None),
            edit=edit,
            note=(str(r.get("note") or "").strip() or None),
        )
        validate(d, where)
        decisions.append(d)
    return sheet_sample, decisions, seen


def import_sheet(
    store: Store, path: str | Path, reviewer: str, sample_id: int | None = None, run_id: int | None = None
) -> dict[str, Any]:
    """Validate, then apply all decisions of a filled sheet at once; returns counts."""
    sheet_sample, decisions, lines = parse_decisions(path, sample_id)
    session = ReviewSession(store, sheet_sample, reviewer, run_id=run_id)
    known = {it.record_id for it in session.items}
    for rid, line in lines.items():
        if rid not in known:
            raise InputError(f"{path}:{line}: record {rid} is not in review sample {sheet_sample}")
    session.decide_many(decisions)
    counts: dict[str, Any] = {"sample_id": sheet_sample, "reviewer": reviewer, "applied": len(decisions)}
    for d in decisions:
        counts[d.decision] = counts.get(d.decision, 0) + 1
    return counts
