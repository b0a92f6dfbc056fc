"""Evol-Instruct with rounds and elimination, with a scripted teacher at the provider boundary."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from datagen.config import build
from datagen.errors import InputError
from datagen.generation import elimination
from datagen.generation.config import OPERATIONS, EvolConfig
from datagen.generation.evol_instruct import load_sources, run_evol
from datagen.import_config import ImportConfig
from datagen.importer import import_file
from datagen.store.models import Record, Run, Verdict
from datagen.store.status import mark_filtered
from tests.gen_fakes import ScriptedProvider

A0, B0 = "Explain how rainbows form.", "List three uses of baking soda."
A1 = "Explain how rainbows form, naming exactly three physical principles involved."
LONG_ANSWER = " ".join(["Sunlight is refracted, reflected and dispersed inside raindrops."] * 4)


def given(prompt: str) -> str:
    return re.findall(r"Prompt#:\n(.*?)\n\n#", prompt, re.S)[-1]  # the last: earlier blocks are examples


def teacher(prompt: str) -> str:
    if prompt.startswith("I want you to act as a Prompt"):
        text = given(prompt)
        if text == A0:
            return A1
        if text == A1:
            return f"#Rewritten Prompt#: {A1} Use a diagram."
        return "List three uses of baking soda in the kitchen."
    if prompt.startswith("Here are two Instructions"):
        return "Equal" if "baking soda" in prompt else "Not Equal"
    return LONG_ANSWER


def seed_pool(tmp_path: Path, store) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(f'{{"instruction": "{t}", "output": "x"}}\n' for t in (A0, B0)))
    import_file(store, ImportConfig(path=str(path)))


def evolved(store) -> list[Record]:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return list(s.scalars(select(Record).where(Record.method == "evol_instruct").order_by(Record.id)))


def test_rounds_elimination_lineage_and_pass_rates(store, tmp_path) -> None:
    seed_pool(tmp_path, store)

    def script(prompt: str) -> str:  # the second rewrite of the baking-soda item (round 2) comes back empty
        if prompt.startswith("I want you") and given(prompt) == B0 and fake.history.count(prompt) == 2:
            return ""
        return teacher(prompt)

    fake = ScriptedProvider(script)
    cfg = EvolConfig(source="method:import", rounds=2, weights={"add_constraints": 1.0})
    summary = run_evol(store, cfg, provider=fake).summary
    with store.session() as s:
        ids = {r.instruction: r.id for r in s.scalars(select(Record).where(Record.method == "import"))}
        verdicts = {v.record_id: (v.passed, v.reason) for v in s.scalars(select(Verdict))}
    recs = evolved(store)
    got = [(r.round, r.operation, r.instruction, r.status, r.parent_id) for r in recs]
    a1_id = recs[0].id
    assert got == [
        (1, "add_constraints", A1, "generated", ids[A0]),
        (1, "add_constraints", "List three uses of baking soda in the kitchen.", "filtered_out", ids[B0]),
        (2, "add_constraints", f"#Rewritten Prompt#: {A1} Use a diagram.", "filtered_out", a1_id),
        (2, "add_constraints", "", "parse_failed", ids[B0]),
    ]
    assert [verdicts.get(r.id) for r in recs] == [
        (True, "ok"),
        (False, "no_information_gain"),
        (False, "copies_template_words"),
        None,
    ]
    assert recs[0].output == LONG_ANSWER and recs[0].template_name == "evol_instruct/add_constraints"
    assert recs[3].raw == ""
    assert summary["pass_rate_by_round"] == {
        "1": {"attempted": 2, "passed": 1, "pass_rate": 0.5},
        "2": {"attempted": 2, "passed": 0, "pass_rate": 0.0},
    }
    assert summary["pass_rate_by_operation"] == {
        "add_constraints": {"attempted": 4, "passed": 1, "pass_rate": 0.25}
    }
    assert summary["eliminated"] == {"no_information_gain": 1, "copies_template_words": 1}
    assert summary["parse_failed"] == 1
    # a template-copying rewrite is eliminated before it is answered or judged: 4 rewrites + 2 x (answer, judge)
    assert summary["requests"] == 8


def test_operations_are_drawn_with_the_seeded_rng_and_weights(store, tmp_path) -> None:
    seed_pool(tmp_path, store)
    weights = {"add_constraints": 1.0, "breadth": 3.0, "deepening": 0.0}
    cfg = EvolConfig(source="method:import", rounds=3, weights=weights, seed=11)
    run_evol(
        store,
        cfg,
        provider=ScriptedProvider(lambda p: "Not Equal" if p.startswith("Here") else "A new task."),
    )
    rng = random.Random(11)
    expected = [rng.choices(["add_constraints", "breadth"], [1.0, 3.0])[0] for _ in range(2 * 3)]
    assert [r.operation for r in evolved(store)] == expected
    assert {r.template_name for r in evolved(store) if r.operation == "breadth"} == {"evol_instruct/breadth"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"weights": {"rhyme": 1.0}}, r"weights: unknown evol operation\(s\) \['rhyme'\]"),
        ({"weights": {"breadth": 0.0}}, "at least one > 0"),
        ({"weights": {"breadth": -1.0, "deepening": 1.0}}, "must be >= 0"),
        ({"source": "everything"}, "source: source 'everything': expected run:ID"),
        ({"source": "run:1,run:x"}, "expected run:ID"),
        ({"source": "status:bogus"}, "unknown status 'bogus'"),
    ],
)
def test_bad_weights_and_sources_are_config_errors(data, message) -> None:
    with pytest.raises(InputError, match=message):
        build(EvolConfig, data, "recipe.yaml")


def test_no_records_to_evolve_is_an_input_error_before_any_run(store) -> None:
    with pytest.raises(InputError, match="no records to evolve"):
        run_evol(store, EvolConfig(source="status:candidate"), provider=ScriptedProvider(teacher))
    with pytest.raises(InputError, match="run 999 does not exist"):
        run_evol(store, EvolConfig(source="run:999"), provider=ScriptedProvider(teacher))
    with store.session() as s:
        assert s.scalars(select(Run)).all() == []


def test_run_and_method_sources_leave_out_unusable_records_status_takes_exactly_that(store, tmp_path) -> None:
    seed_pool(tmp_path, store)
    with store.session() as s:
        a, b = s.scalars(select(Record).order_by(Record.id)).all()
        mark_filtered(s, kept=[], dropped=[b.id])
        run_id = a.run_id
    assert [i.record_id for i in load_sources(store, "method:import", None)] == [a.id]
    assert [i.record_id for i in load_sources(store, f"run:{run_id}", None)] == [a.id]
    assert [i.record_id for i in load_sources(store, "status:filtered_out", None)] == [b.id]
    assert [i.record_id for i in load_sources(store, "status:filtered_out,method:import", None)] == [
        a.id,
        b.id,
    ]


def test_elimination_rules() -> None:
    assert elimination.answer_problem("Sorry, I cannot help with that.") == "answer_sorry_short"
    assert elimination.answer_problem("Sorry for the wait. " + "word " * 80) is None
    assert elimination.answer_problem("It is, and it was; of the...!") == "answer_only_stopwords"
    assert elimination.answer_problem("") == "answer_only_stopwords"
    assert elimination.answer_problem("Paris is the capital of France.") is None
    assert elimination.copies_template_words("Per the #The Given Prompt#, do X") == "copies_template_words"
    assert elimination.copies_template_words("Rewritten prompt: do X") == "copies_template_words"
    assert elimination.copies_template_words("Describe a prompt for a story") is None
    assert elimination.judged_equal(True) == "no_information_gain"
    assert elimination.judged_equal(False) is None
    assert elimination.judged_equal(None) == "judge_unparseable"
    assert set(OPERATIONS) == {
        "add_constraints", "deepening", "concretizing", "increase_reasoning", "complicate_input", "breadth",
    }  # fmt: skip


def test_rerun_replays_every_round_from_the_cache_and_inserts_nothing(store, tmp_path) -> None:
    seed_pool(tmp_path, store)
    cfg = EvolConfig(source="method:import", rounds=3, seed=5)
    first = run_evol(store, cfg, provider=ScriptedProvider(teacher)).summary
    before = [(r.uid, r.parent_id, r.round, r.operation, r.instruction, r.status) for r in evolved(store)]
    again = ScriptedProvider(teacher)
    second = run_evol(store, cfg, provider=again).summary
    assert (
        again.history == []
        and second["requests"] == 0
        and second["cache_hits"] == first["requests"] + first["cache_hits"]
    )
    assert second["records_inserted"] == 0 and second["records"] == first["records"] == 6
    assert second["pass_rate_by_round"] == first["pass_rate_by_round"]
    assert [
        (r.uid, r.parent_id, r.round, r.operation, r.instruction, r.status) for r in evolved(store)
    ] == before


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("光合作用是植物利用阳光制造养分的过程。", None),
        ("Фотосинтез — это процесс, в котором растения используют свет.", None),
        ("Η φωτοσύνθεση είναι μια διαδικασία.", None),
        ("光合成は植物が光を使う過程です。", None),
        ("42", None),
        ("и в на, не то.", "answer_only_stopwords"),
        ("的。了！", "answer_only_stopwords"),
        ("It is, and it was; of the...!", "answer_only_stopwords"),
        ("", "answer_only_stopwords"),
        ("抱歉，我无法回答这个问题。", "answer_sorry_short"),
        ("Извините, я не могу помочь.", "answer_sorry_short"),
        ("Sorry, I cannot help with that.", "answer_sorry_short"),
        ("抱歉" + "这是一个很长的回答。" * 10, None),  # 80 characters and more: not short
    ],
)
def test_elimination_reads_any_language(answer: str, reason: str | None) -> None:
    assert elimination.answer_problem(answer) == reason
