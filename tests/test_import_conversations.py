"""Multi-turn conversations in, OpenAI/ChatML ``messages`` and ShareGPT ``conversations``: what is stored, what is
refused (exit 2, file:line and what is wrong, nothing written), and that a conversation's identity is all its
turns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from datagen.store import Record, Run, open_store

U1, A1, U2, A2 = "Name a colour.", "Blue.", "Another one?", "Red."
TURNS = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": U1},
    {"role": "assistant", "content": A1},
    {"role": "user", "content": U2},
    {"role": "assistant", "content": A2},
]
SHAREGPT = {"system": "system", "user": "human", "assistant": "gpt"}


def sharegpt(turns: list[dict[str, str]], names: dict[str, str] = SHAREGPT) -> dict[str, Any]:
    return {"conversations": [{"from": names[t["role"]], "value": t["content"]} for t in turns]}


def _jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _records(db: Path) -> list[Record]:
    with open_store(str(db)).session() as s:
        return list(s.scalars(select(Record).order_by(Record.id)).all())


def _counts(db: Path) -> tuple[int, int]:
    with open_store(str(db)).session() as s:
        records = s.scalar(select(func.count()).select_from(Record))
        return records, s.scalar(select(func.count()).select_from(Run))


@pytest.mark.parametrize(
    ("name", "rows", "fmt"),
    [
        ("chat.jsonl", [{"messages": TURNS}], "chatml"),
        ("share.jsonl", [sharegpt(TURNS)], "sharegpt"),
        ("share_roles.jsonl", [sharegpt(TURNS, {r: r for r in SHAREGPT})], "sharegpt"),
        ("share.json", None, "sharegpt"),  # a JSON array, as ShareGPT files usually are
    ],
)
def test_a_conversation_keeps_every_turn(tmp_path: Path, fresh_db: Path, run_cli, name, rows, fmt) -> None:
    path = tmp_path / name
    if rows is None:
        path.write_text(json.dumps([sharegpt(TURNS)]), encoding="utf-8")
    else:
        _jsonl(path, rows)
    r = run_cli("import", str(path), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["format"] == fmt
    [rec] = _records(fresh_db)
    assert (rec.instruction, rec.input, rec.output, rec.messages) == (U1, "", A2, TURNS)
    assert rec.method == "import" and rec.meta["source"]["file"] == name


def test_the_same_conversation_in_either_format_is_one_record(
    tmp_path: Path, fresh_db: Path, run_cli
) -> None:
    assert run_cli("import", str(_jsonl(tmp_path / "a.jsonl", [{"messages": TURNS}]))).exit_code == 0
    r = run_cli("import", str(_jsonl(tmp_path / "b.jsonl", [sharegpt(TURNS)])), "--json")
    assert (json.loads(r.stdout)["imported"], json.loads(r.stdout)["already_present"]) == (0, 1)


def test_dedup_covers_every_turn(tmp_path: Path, fresh_db: Path, run_cli) -> None:
    """Conversations that share their first question and last answer but differ in a middle turn (or in the
    system turn) are different records; a single-turn conversation is the same record as its plain import."""
    middle = [*TURNS[:2], {"role": "assistant", "content": "Green."}, *TURNS[3:]]
    no_system = TURNS[1:]
    single = [{"role": "user", "content": "Add 2 and 2."}, {"role": "assistant", "content": "4"}]
    path = _jsonl(tmp_path / "c.jsonl", [{"messages": t} for t in (TURNS, middle, no_system, TURNS, single)])
    r = run_cli("import", str(path), "--json")
    assert (json.loads(r.stdout)["imported"], json.loads(r.stdout)["already_present"]) == (4, 1)
    recs = _records(fresh_db)
    assert len({x.content_hash for x in recs}) == 4
    assert [x.messages for x in recs] == [TURNS, middle, no_system, None]  # single-turn: the fields hold it
    plain = _jsonl(tmp_path / "p.jsonl", [{"instruction": "Add 2 and 2.", "output": "4"}])
    r = run_cli("import", str(plain), "--json")
    assert (json.loads(r.stdout)["imported"], json.loads(r.stdout)["already_present"]) == (0, 1)


def test_a_system_turn_makes_a_single_turn_record_keep_its_messages(
    tmp_path: Path, fresh_db: Path, run_cli
) -> None:
    turns = TURNS[:3]
    assert run_cli("import", str(_jsonl(tmp_path / "s.jsonl", [{"messages": turns}]))).exit_code == 0
    [rec] = _records(fresh_db)
    assert (rec.instruction, rec.output, rec.messages) == (U1, A1, turns)


def test_llama_factory_alpaca_history_is_a_conversation(tmp_path: Path, fresh_db: Path, run_cli) -> None:
    row = {"instruction": U2, "input": "", "output": A2, "system": "Be brief.", "history": [[U1, A1]]}
    path = tmp_path / "lf.json"
    path.write_text(
        json.dumps([row, {"instruction": "Say hi.", "output": "Hi!", "system": "", "history": []}])
    )
    r = run_cli("import", str(path), "--json")
    assert json.loads(r.stdout)["format"] == "alpaca"
    first, plain = _records(fresh_db)
    assert (first.instruction, first.output, first.messages) == (U1, A2, TURNS)
    assert (plain.messages, plain.meta) == (
        None,
        {"source": {"file": "lf.json", "item": 2}},
    )  # empty columns: none
    r = run_cli("import", str(_jsonl(tmp_path / "same.jsonl", [{"messages": TURNS}])), "--json")
    assert json.loads(r.stdout)["already_present"] == 1


def test_a_lone_user_turn_is_still_a_prompt_without_an_answer(
    tmp_path: Path, fresh_db: Path, run_cli
) -> None:
    path = _jsonl(tmp_path / "q.jsonl", [{"messages": [{"role": "user", "content": U1}]}])
    assert run_cli("import", str(path)).exit_code == 0
    [rec] = _records(fresh_db)
    assert (rec.instruction, rec.output, rec.messages) == (U1, "", None)


def _m(*turns: tuple[Any, Any]) -> dict[str, Any]:
    return {"messages": [{"role": r, "content": c} for r, c in turns]}


BAD = [
    ("not_a_list", {"messages": "hi"}, "field 'messages' must be a non-empty list of {role, content}"),
    ("empty", {"messages": []}, "field 'messages' must be a non-empty list of {role, content}"),
    ("not_an_object", {"messages": ["hi"]}, "messages[0] must be an object with 'role' and 'content'"),
    (
        "unknown_role",
        _m(("user", "a"), ("bot", "b")),
        "messages[1]: unknown role 'bot' (one of system, user, assistant)",
    ),
    (
        "sharegpt_unknown_role",
        {"conversations": [{"from": "human", "value": "a"}, {"from": "bing", "value": "b"}]},
        "conversations[1]: unknown role 'bing' (one of system, human, user, gpt, assistant)",
    ),
    ("missing_content", {"messages": [{"role": "user"}]}, "messages[0]: missing 'content'"),
    ("content_not_string", _m(("user", "a"), ("assistant", ["b"])), "messages[1]: 'content' must be a string, got list"),
    (
        "sharegpt_value_not_string",
        {"conversations": [{"from": "human", "value": 3}]},
        "conversations[0]: 'value' must be a string, got int",
    ),
    (
        "starts_with_assistant",
        _m(("assistant", "a"), ("user", "b"), ("assistant", "c")),
        "messages[0]: expected a user turn, got assistant (turns must alternate)",
    ),
    (
        "two_user_turns",
        _m(("user", "a"), ("user", "b"), ("assistant", "c")),
        "messages[1]: expected an assistant turn, got user (turns must alternate)",
    ),
    (
        "system_not_first",
        _m(("user", "a"), ("assistant", "b"), ("system", "c"), ("user", "d"), ("assistant", "e")),
        "messages[2]: a system turn is allowed only first",
    ),
    (
        "trailing_user_turn",
        _m(("user", "a"), ("assistant", "b"), ("user", "c")),
        "messages[2]: the conversation ends with a user turn (it must end with the assistant's)",
    ),
    ("only_system", _m(("system", "a")), "field 'messages' has no user turn"),
    (
        "history_not_pairs",
        {"instruction": "b", "output": "c", "history": [["a"]]},
        "history[0] must be a [user, assistant] pair of strings",
    ),
    (
        "history_blank_answer",
        {"instruction": "b", "output": "c", "history": [["a", " "]]},
        "history[0]: the assistant turn is empty",
    ),
    (
        "history_without_output",
        {"instruction": "b", "history": [["a", "x"]]},
        "field 'output' is empty (a conversation with a history ends with the assistant's answer)",
    ),
    ("system_not_string", {"instruction": "b", "output": "c", "system": 1}, "field 'system' must be a string, got int"),
    ("blank_user_turn", _m(("user", " \n"), ("assistant", "b")), "messages[0]: the user turn is empty"),
    (
        "blank_answer",
        _m(("user", "a"), ("assistant", ""), ("user", "c"), ("assistant", "d")),
        "messages[1]: the assistant turn is empty",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("case", "bad", "message"), BAD, ids=[c[0] for c in BAD])
def test_a_malformed_conversation_exits_2_naming_the_line_and_writes_nothing(
    tmp_path: Path, fresh_db: Path, run_cli, case: str, bad: Any, message: str
) -> None:
    assert (
        run_cli(
            "import", str(_jsonl(tmp_path / "ok.jsonl", [{"instruction": "kept", "output": "x"}]))
        ).exit_code
        == 0
    )
    before = _counts(fresh_db)
    good = {"messages": TURNS} if "messages" in bad else sharegpt(TURNS)
    if "instruction" in bad:
        good = {"instruction": "x", "output": "y", "system": "s", "history": [["u", "a"]]}
    path = _jsonl(tmp_path / f"{case}.jsonl", [good, good | {"id": 2}, bad])
    r = run_cli("import", str(path))
    assert r.exit_code == 2, r.output
    assert r.stderr.strip().splitlines()[-1].endswith(f"{path}:3: {message}"), r.stderr
    assert _counts(fresh_db) == before


def test_skip_invalid_reports_a_malformed_conversation(tmp_path: Path, fresh_db: Path, run_cli) -> None:
    path = _jsonl(
        tmp_path / "mixed.jsonl", [{"messages": TURNS}, _m(("user", "a"), ("assistant", "b"), ("user", "c"))]
    )
    r = run_cli("import", str(path), "--skip-invalid", "--json")
    out = json.loads(r.stdout)
    assert (out["imported"], out["skipped_invalid"]) == (1, 1)
    assert (
        out["skipped"][0]["error"]
        == "messages[2]: the conversation ends with a user turn (it must end with the assistant's)"
    )


def test_the_turns_hash_fast_path_gives_the_normalised_hash() -> None:
    import hashlib

    from datagen.conversation import turns_hash
    from datagen.textnorm import normalize

    for turns in (
        TURNS,
        [{"role": "user", "content": " Café\n\nau  lait "}, {"role": "assistant", "content": "Oui."}],
    ):
        joined = "\0".join(f"{t['role']}\0{t['content'].strip()}" for t in turns)
        assert turns_hash(turns) == hashlib.sha256(normalize(joined).encode()).hexdigest()


@pytest.mark.parametrize(("name", "fmt"), [("chats.json", "chatml"), ("share.json", "sharegpt")])
def test_a_named_format_reads_an_array_or_lines_whatever_the_name(
    tmp_path: Path, fresh_db: Path, run_cli, name, fmt
) -> None:
    item = {"messages": TURNS} if fmt == "chatml" else sharegpt(TURNS)
    lines = _jsonl(tmp_path / name, [item])  # JSONL in a .json file, format given
    r = run_cli("import", str(lines), "--format", fmt, "--json")
    assert r.exit_code == 0, r.output
    array = tmp_path / f"array-{fmt}.jsonl"
    array.write_text(json.dumps([item]), encoding="utf-8")  # an array in a .jsonl file
    r = run_cli("import", str(array), "--format", fmt, "--json")
    assert (json.loads(r.stdout)["format"], json.loads(r.stdout)["already_present"]) == (fmt, 1)
