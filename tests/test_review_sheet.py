"""The offline round-trip through the real CLI: export-sheet, fill, import; bad sheets change nothing."""

from __future__ import annotations

import csv
import json

import pytest
from sqlalchemy import func, select

from datagen.review.config import ReviewConfig
from datagen.review.sample import create_sample
from datagen.store.models import Record, Review
from tests.review_data import insert, population


@pytest.fixture
def sample(store):
    run, _ = insert(store, population(12, 4))
    sid = create_sample(store, ReviewConfig(fraction=0.5, min_count=1, filtered_fraction=0.5), {"run": run})
    return run, sid


def _counts(store):
    with store.session() as s:
        return s.scalar(select(func.count(Review.id))), s.scalar(select(func.count(Record.id)))


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_jsonl_round_trip_applies_every_decision(store, sample, run_cli, tmp_path):
    run, sid = sample
    sheet = tmp_path / "s.jsonl"
    res = run_cli("review", "export-sheet", "--run", str(run), str(sheet))
    assert res.exit_code == 0, res.output
    rows = _rows(sheet)
    assert len(rows) == 8 and {r["sample_id"] for r in rows} == {sid}
    rows[0].update(decision="accept")
    rows[1].update(decision="reject", reason_code="incorrect", note="wrong fact")
    rows[2].update(decision="edit", edited_output="A corrected answer.")
    rows[3].update(decision="skip")
    _write(sheet, rows)
    res = run_cli("review", "import", str(sheet), "--reviewer", "carol", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out == {"sample_id": sid, "reviewer": "carol", "applied": 4, "accept": 1, "reject": 1, "edit": 1,
                   "skip": 1}  # fmt: skip
    with store.session() as s:
        revs = {r.record_id: r for r in s.scalars(select(Review)).all()}
        edited = s.get(Record, revs[rows[2]["record_id"]].edited_record_id)
        assert (edited.method, edited.parent_id, edited.output) == (
            "edit",
            rows[2]["record_id"],
            "A corrected answer.",
        )
        assert edited.instruction == rows[2]["instruction"]
        assert revs[rows[1]["record_id"]].note == "wrong fact"
    st = json.loads(run_cli("review", "stats", "--sample", str(sid), "--json").stdout)
    assert st["decisions"] == {"accept": 1, "reject": 1, "edit": 1, "skip": 1}
    # The same sheet imported again changes nothing: no new review, no second edit revision.
    before = _counts(store), _reviews(store)
    assert run_cli("review", "import", str(sheet), "--reviewer", "carol").exit_code == 0
    assert (_counts(store), _reviews(store)) == before
    # A changed decision replaces the old one.
    rows[0].update(decision="reject", reason_code="incorrect")
    _write(sheet, rows)
    assert run_cli("review", "import", str(sheet), "--reviewer", "carol").exit_code == 0
    st = json.loads(run_cli("review", "stats", "--sample", str(sid), "--json").stdout)
    assert st["decisions"] == {"reject": 2, "edit": 1, "skip": 1}


def _reviews(store) -> list[tuple[int, str, bool]]:
    with store.session() as s:
        return [(r.record_id, r.decision, r.undone) for r in s.scalars(select(Review).order_by(Review.id))]


def test_csv_round_trip(store, sample, run_cli, tmp_path):
    _, sid = sample
    sheet = tmp_path / "s.csv"
    assert run_cli("review", "export-sheet", "--sample", str(sid), str(sheet)).exit_code == 0
    with sheet.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["decision"] = "accept"
    rows[0]["record_id"] = f"{rows[0]['record_id']}.0"  # as a spreadsheet may save it
    with sheet.open("w", newline="", encoding="utf-8-sig") as f:  # with a BOM, as Excel saves CSV
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    res = run_cli("review", "import", str(sheet), "--sample", str(sid), "--reviewer", "dan")
    assert res.exit_code == 0, res.output
    assert "applied 8 decisions" in res.stdout
    assert _counts(store)[0] == 8


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda rows: rows[5].update(record_id=999999), "record 999999 is not in review sample"),
        (lambda rows: rows[5].update(decision="maybe"), "unknown decision 'maybe'"),
        (lambda rows: rows[5].update(decision="reject"), "reject needs a reason code"),
        (lambda rows: rows[5].update(decision="reject", reason_code="meh"), "reject needs a reason code"),
        (lambda rows: rows[5].update(decision="edit"), "edit needs at least one edited field"),
        (lambda rows: rows[5].update(record_id="abc"), "record_id must be a whole number"),
        (lambda rows: rows[5].update(record_id=rows[0]["record_id"]), "appears twice"),
        (lambda rows: rows[5].update(sample_id=rows[5]["sample_id"] + 1), "rows from several samples"),
    ],
)
def test_bad_sheet_exits_2_and_applies_nothing(store, sample, run_cli, tmp_path, mutate, message):
    _, sid = sample
    sheet = tmp_path / "s.jsonl"
    run_cli("review", "export-sheet", "--sample", str(sid), str(sheet))
    rows = _rows(sheet)
    for r in rows[:5]:
        r["decision"] = "accept"  # valid rows before the bad one must not be applied either
    mutate(rows)
    _write(sheet, rows)
    before = _counts(store)
    res = run_cli("review", "import", str(sheet), "--reviewer", "eve")
    assert res.exit_code == 2
    assert message in res.stderr and "s.jsonl" in res.stderr
    assert _counts(store) == before


def test_sheet_for_another_sample_is_refused(store, sample, run_cli, tmp_path):
    run, sid = sample
    other = create_sample(store, ReviewConfig(seed=3, fraction=0.5, min_count=1), {"run": run})
    sheet = tmp_path / "s.jsonl"
    run_cli("review", "export-sheet", "--sample", str(sid), str(sheet))
    rows = _rows(sheet)
    rows[0]["decision"] = "accept"
    _write(sheet, rows)
    res = run_cli("review", "import", str(sheet), "--sample", str(other))
    assert res.exit_code == 2
    assert f"is a sheet for review sample {sid}, not sample {other}" in res.stderr
    assert _counts(store)[0] == 0
    sheet.write_text('{"sample_id": 1, "record_id": 2, "decision": "accept"}\nnot json\n')
    res = run_cli("review", "import", str(sheet))
    assert res.exit_code == 2 and "s.jsonl:2: invalid JSON" in res.stderr


def test_export_sheet_to_an_unwritable_place_is_refused(store, sample, run_cli, tmp_path):
    run, _ = sample
    (tmp_path / "a-file").write_text("x")
    res = run_cli("review", "export-sheet", "--run", str(run), str(tmp_path / "a-file" / "s.jsonl"))
    assert res.exit_code == 2 and "cannot write the review sheet" in res.stderr


def test_review_without_a_terminal_points_to_auto_and_sheets(store, sample, run_cli):
    run, _ = sample
    res = run_cli("review", "--run", str(run))
    assert res.exit_code == 2 and "needs a terminal: use --sheet FILE" in res.stderr
    res = run_cli("review", "--run", str(run), "--auto", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["is_human"] is False


def test_a_sample_drawn_without_a_terminal_goes_to_a_sheet(store, run_cli, tmp_path):
    run, _ = insert(store, population(12, 4))
    sheet = tmp_path / "s.csv"
    res = run_cli("review", "export-sheet", "--run", str(run), str(sheet))
    assert res.exit_code == 2 and "--sheet FILE" in res.stderr  # no sample yet: says how to draw one
    res = run_cli(
        "review", "--run", str(run), "--fraction", "0.5", "--min-count", "1", "--sheet", str(sheet), "--json"
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["created"] is True and out["rows"] == len(_rows_csv(sheet)) > 0
    again = json.loads(
        run_cli("review", "--run", str(run), "--sheet", str(tmp_path / "t.csv"), "--json").stdout
    )
    assert again["sample_id"] == out["sample_id"] and again["created"] is False  # the same sample, resumed
    res = run_cli("review", "--run", str(run), "--auto", "--sheet", str(tmp_path / "u.csv"))
    assert res.exit_code == 2 and "not with --auto" in res.stderr
    res = run_cli("review", "--run", str(run), "--sheet", str(sheet))  # would wipe decisions written there
    assert res.exit_code == 2 and "exists (it may hold decisions not imported yet)" in res.stderr
    before = _samples_and_runs(store)
    res = run_cli("review", "--run", str(run), "--new-sample", "--sheet", str(tmp_path / "s.txt"))
    assert res.exit_code == 2 and "a sheet is .jsonl or .csv" in res.stderr
    assert _samples_and_runs(store) == before and not (tmp_path / "s.txt").exists()


def _samples_and_runs(store):
    from datagen.store.models import ReviewSample, Run

    with store.session() as s:
        return s.scalar(select(func.count(ReviewSample.id))), s.scalar(select(func.count(Run.id)))


def _rows_csv(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))
