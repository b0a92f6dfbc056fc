"""Import of every format; malformed files exit 2 and change nothing; re-import adds nothing; concurrency."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from datagen.store import Record, Run, open_store

SEED = {
    "id": "seed_task_0",
    "name": "antonyms",
    "instruction": "Give the antonym of the word.",
    "instances": [{"input": "hot", "output": "cold"}, {"input": "up", "output": "down"}],
    "is_classification": False,
}


def _jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _counts(db: Path) -> tuple[int, int]:
    store = open_store(str(db))
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(Record)), s.scalar(
            select(func.count()).select_from(Run)
        )


def test_self_instruct_seed_format(tmp_path: Path, fresh_db: Path, run_cli) -> None:
    cls = {
        **SEED,
        "id": "seed_task_1",
        "instruction": "Is the review positive or negative?",
        "is_classification": True,
        "instances": [{"input": "Loved it.", "output": "Positive"}],
    }
    r = run_cli("import", str(_jsonl(tmp_path / "seeds.jsonl", [SEED, cls])), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["imported"] == 2 and json.loads(r.stdout)["format"] == "self-instruct"
    store = open_store(str(fresh_db))
    with store.session() as s:
        recs = s.scalars(select(Record).order_by(Record.id)).all()
    assert [(x.method, x.input, x.output, x.is_classification) for x in recs] == [
        ("seed", "hot", "cold", False),
        ("seed", "Loved it.", "Positive", True),
    ]
    assert recs[0].meta["instances"] == SEED["instances"] and recs[0].meta["seed_id"] == "seed_task_0"
    assert recs[0].meta["source"] == {"file": "seeds.jsonl", "line": 1}


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "plain.jsonl",
            '{"instruction": "Add", "input": "1 2", "output": "3", "lang": "en"}\n{"instruction": "Hi"}\n',
            [("Add", "1 2", "3"), ("Hi", "", "")],
        ),
        (
            "alpaca.json",
            json.dumps([{"instruction": "Add", "input": "1 2", "output": "3"}]),
            [("Add", "1 2", "3")],
        ),
        (
            "chat.jsonl",
            json.dumps(
                {
                    "messages": [
                        {"role": "system", "content": "Be brief."},
                        {"role": "user", "content": "Capital of France?"},
                        {"role": "assistant", "content": "Paris."},
                    ]
                }
            )
            + "\n",
            [("Capital of France?", "", "Paris.")],
        ),
    ],
)
def test_plain_alpaca_and_chatml(tmp_path: Path, fresh_db: Path, run_cli, name, content, expected) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    r = run_cli("import", str(path))
    assert r.exit_code == 0, r.output
    store = open_store(str(fresh_db))
    with store.session() as s:
        recs = s.scalars(select(Record).order_by(Record.id)).all()
    assert [(x.instruction, x.input, x.output) for x in recs] == expected
    assert all(x.method == "import" and x.status == "generated" for x in recs)
    if name == "plain.jsonl":
        assert recs[0].meta["extra"] == {"lang": "en"}
    if name == "chat.jsonl":
        assert recs[0].messages == json.loads(content)["messages"]  # the system turn is kept with the turns


def test_bom_crlf_blank_lines_and_null_fields_import(tmp_path: Path, fresh_db: Path, run_cli) -> None:
    path = tmp_path / "win.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"instruction": "first", "input": null}\r\n\r\n  \n{"instruction": "second", "output": "b"}\r\n'
    )
    r = run_cli("import", str(path), "--json")
    assert r.exit_code == 0, r.output
    store = open_store(str(fresh_db))
    with store.session() as s:
        recs = s.scalars(select(Record).order_by(Record.id)).all()
    assert [(x.instruction, x.input, x.output, x.meta["source"]["line"]) for x in recs] == [
        ("first", "", "", 1),
        ("second", "", "b", 4),
    ]


@pytest.mark.parametrize(
    ("name", "items", "method", "fmt"),
    [
        ("seeds.jsonl", [SEED], "seed", "self-instruct"),
        ("chat.txt", [{"messages": [{"role": "user", "content": "Hi?"}]}], "import", "chatml"),
        ("tasks.json", [{"instruction": "Add", "output": "3"}], "import", "alpaca"),
    ],
)
def test_a_json_array_outside_a_json_file_is_detected_from_its_first_record(
    tmp_path: Path, fresh_db: Path, run_cli, name, items, method, fmt
) -> None:
    path = tmp_path / name
    path.write_text(json.dumps(items), encoding="utf-8")
    r = run_cli("import", str(path), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["format"] == fmt
    store = open_store(str(fresh_db))
    with store.session() as s:
        assert [x.method for x in s.scalars(select(Record))] == [method]


def test_reimport_adds_nothing(tmp_path: Path, fresh_db: Path, run_cli) -> None:
    path = _jsonl(tmp_path / "a.jsonl", [{"instruction": f"task {i}", "output": "x"} for i in range(50)])
    assert run_cli("import", str(path)).exit_code == 0
    r = run_cli("import", str(path), "--json")
    assert json.loads(r.stdout)["imported"] == 0 and json.loads(r.stdout)["already_present"] == 50
    assert _counts(fresh_db) == (50, 2)


BAD_CASES = [
    ("bad_json", b'{"instruction": "ok"}\n{"instruction": \n', ":2: invalid JSON"),
    (
        "missing_field",
        b'{"instruction": "ok"}\n{"output": "no instruction"}\n',
        ":2: missing field 'instruction'",
    ),
    (
        "mistyped_field",
        b'{"instruction": "ok", "output": 3}\n',
        ":1: field 'output' must be a string, got int",
    ),
    (
        "seed_bad_instances",
        json.dumps({**SEED, "instances": "nope"}).encode() + b"\n",
        ":1: field 'instances'",
    ),
    ("seed_bad_flag", json.dumps({**SEED, "is_classification": "yes"}).encode() + b"\n", "is_classification"),
    (
        "blank_instruction",
        b'{"instruction": "ok"}\n{"instruction": "  \\n"}\n',
        ":2: field 'instruction' is empty",
    ),
    ("empty", b"", "holds no valid records"),
    ("blank_lines", b"\n\n  \n", "holds no valid records"),
    ("not_utf8", b'{"instruction": "ok"}\n{"instruction": "caf\xe9"}\n', ":2: not valid UTF-8"),
    ("not_object", b'{"instruction": "ok"}\n[1, 2]\n', ":2: expected a JSON object"),
    (
        "trailing_user_turn",
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": "b"},
                    {"role": "user", "content": "c"},
                ]
            }
        ).encode(),
        ":1: messages[2]: the conversation ends with a user turn",
    ),
]


@pytest.mark.parametrize(("case", "content", "message"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_malformed_file_exits_2_and_changes_nothing(
    tmp_path, fresh_db, run_cli, case, content, message
) -> None:
    good = _jsonl(tmp_path / "good.jsonl", [{"instruction": "existing", "output": "x"}])
    assert run_cli("import", str(good)).exit_code == 0
    before = _counts(fresh_db)
    path = tmp_path / f"{case}.jsonl"
    path.write_bytes(content)
    r = run_cli("import", str(path))
    assert r.exit_code == 2, r.output
    assert str(path) in r.stderr and message in r.stderr
    assert _counts(fresh_db) == before


def test_huge_line_is_refused_without_reading_it_whole(tmp_path: Path, fresh_db: Path, run_cli) -> None:
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as f:
        f.write(b'{"instruction": "ok"}\n{"instruction": "')
        f.write(b"x" * (50 * 1024 * 1024))
        f.write(b'"}\n')
    r = run_cli("import", str(path))
    assert r.exit_code == 2
    assert f"{path}:2: line is 52,428," in r.stderr and "--max-line-bytes" in r.stderr
    assert _counts(fresh_db) == (0, 0)


def test_a_bad_line_after_batches_were_written_rolls_all_of_them_back(
    tmp_path: Path, fresh_db: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datagen.importer

    monkeypatch.setattr(datagen.importer, "BATCH", 7)  # rows are written as they are read, 7 at a time
    assert (
        run_cli("import", str(_jsonl(tmp_path / "good.jsonl", [{"instruction": "existing"}]))).exit_code == 0
    )
    before = _counts(fresh_db)
    path = _jsonl(tmp_path / "late.jsonl", [{"instruction": f"task {i}", "output": "x"} for i in range(50)])
    with path.open("a") as f:
        f.write('{"instruction": 5}\n')
    r = run_cli("import", str(path))
    assert r.exit_code == 2 and f"{path}:51: field 'instruction' must be a string, got int" in r.stderr
    assert _counts(fresh_db) == before  # neither the 50 rows inserted before it nor the run row remain
    path.write_text(path.read_text().replace('{"instruction": 5}', '{"instruction": "fixed"}'))
    r = run_cli("import", str(path), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["imported"] == 51


def test_skip_invalid_imports_the_rest_and_reports_each(tmp_path: Path, fresh_db: Path, run_cli) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"instruction": "a"}\n{bad\n{"instruction": "b"}\n{"output": "c"}\n')
    r = run_cli("import", str(path), "--skip-invalid", "--json")
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert out["imported"] == 2 and [s["line"] for s in out["skipped"]] == [2, 4]
    r = run_cli("import", str(path), "--skip-invalid")
    assert f"skipped {path}:2: invalid JSON" in r.stderr and f"skipped {path}:4: missing field" in r.stderr


def test_skip_invalid_names_array_items_and_refuses_a_file_with_nothing_valid(
    tmp_path: Path, fresh_db: Path, run_cli
) -> None:
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps([{"instruction": "a"}, {"instruction": 3}], indent=1))
    r = run_cli("import", str(path), "--skip-invalid", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["skipped"] == [
        {"item": 2, "where": f"{path}: item 2", "error": "field 'instruction' must be a string, got int"}
    ]
    before = _counts(fresh_db)
    bad = tmp_path / "allbad.jsonl"
    bad.write_text('{"output": "no instruction"}\n{oops\n')
    r = run_cli("import", str(bad), "--skip-invalid")
    assert r.exit_code == 2 and "holds no valid records (2 invalid, skipped)" in r.stderr
    assert _counts(fresh_db) == before
    r = run_cli("import", str(bad), "--max-line-bytes", "-5")
    assert r.exit_code == 2 and "--max-line-bytes" in r.stderr


def test_two_processes_importing_at_once(tmp_path: Path, fresh_db: Path) -> None:
    files = [
        _jsonl(
            tmp_path / f"f{k}.jsonl", [{"instruction": f"p{k} task {i}", "output": "o"} for i in range(3000)]
        )
        for k in range(2)
    ]
    env = {**os.environ, "DATAGEN_DB": str(fresh_db), "DATAGEN_PROGRESS": "0"}
    subprocess.run(
        [sys.executable, "-m", "datagen", "db", "upgrade"], env=env, check=True, capture_output=True
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "datagen", "import", str(f)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in files
    ]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert not any("locked" in err for _, err in results)
    assert _counts(fresh_db) == (6000, 2)
