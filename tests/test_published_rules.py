"""The published Self-Instruct rules, each with its source: blacklists, capitalize(), truncated task lists,
conflicting outputs, a seeded random 5 and the similarity scores kept with each record."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sqlalchemy import select

from datagen.errors import InputError
from datagen.generation.config import SelfInstructConfig
from datagen.generation.self_instruct import run_self_instruct
from datagen.rouge import rouge_l_f1
from datagen.selfinstruct_rules import (
    ALPACA_BLACKLIST,
    SELF_INSTRUCT_BLACKLIST,
    clean_instances,
    first_upper,
    instruction_problem,
)
from datagen.store.models import Record, Verdict
from tests.gen_fakes import ScriptedProvider, write_seeds

SEEDS = [("Give three tips for staying healthy during the winter months.", False),
         ("Translate the given English sentence into French.", False)]  # fmt: skip
LIST = (
    "Create a video script about tides for kids.\n10. Explain how glaciers move to a child.\n11. Describe the"
)


def test_blacklists_are_the_published_ones() -> None:
    assert len(SELF_INSTRUCT_BLACKLIST) == 13 and len(ALPACA_BLACKLIST) == 18
    assert set(ALPACA_BLACKLIST) - set(SELF_INSTRUCT_BLACKLIST) == {
        "video",
        "audio",
        "music",
        "flowchart",
        "diagram",
    }
    task = "Create a video script about tides for kids."
    assert instruction_problem(task, blacklist="self_instruct") is None
    assert instruction_problem(task, blacklist="alpaca") == "needs_non_text_io"
    assert (
        instruction_problem("Draw a cat sitting on a mat.", blacklist="self_instruct") == "needs_non_text_io"
    )


@pytest.mark.parametrize(
    ("instruction", "reason"),
    [
        ("write a program that sorts numbers.", "write_a_program"),
        ("WRITE A PROGRAM that adds two numbers.", "write_a_program"),
        ("explain why the sky is blue today.", None),  # capitalize() first: a lower-case start is fine
        ("  Explain   why the sky\nis blue today. ", None),
        ("Write a programme of events for a village fair.", "write_a_program"),  # a prefix test, as published
    ],
)
def test_rules_judge_the_capitalized_instruction(instruction: str, reason: str | None) -> None:
    assert instruction_problem(instruction) == reason


def test_the_stored_instruction_keeps_its_casing() -> None:
    assert first_upper("explain  JSON to an English\nteacher.") == "Explain JSON to an English teacher."


@pytest.mark.parametrize(
    ("pairs", "kept", "dropped"),
    [
        # no input, several different outputs: exempt (a task without input may have many answers)
        ([("", "a."), ("", "b."), ("", "a.")], [("", "a."), ("", "b.")], ["duplicate_instance"]),
        # one non-empty input with two outputs: the whole task goes, as in prepare_for_finetuning.py
        ([("x", "1."), ("y", "2."), ("x", "3.")], [], ["conflicting_outputs"] * 3),
        ([("x", "x"), ("y", "ok."), ("z:", "ok."), ("w", "")], [("y", "ok.")],
         ["output_equals_input", "input_ends_with_colon", "empty_output"]),
    ],
)  # fmt: skip
def test_clean_instances(pairs: list, kept: list, dropped: list) -> None:
    assert clean_instances(pairs, 5, random.Random(0)) == (kept, dropped)


def test_a_seeded_random_five_in_reply_order() -> None:
    pairs = [(f"in {i}", f"out {i}.") for i in range(9)]
    picks = {tuple(clean_instances(pairs, 5, random.Random(seed))[0]) for seed in range(20)}
    assert len(picks) > 1  # not always the first five
    for seed in range(5):
        kept, dropped = clean_instances(pairs, 5, random.Random(seed))
        assert kept == clean_instances(pairs, 5, random.Random(seed))[0]  # the same seed, the same five
        assert kept == sorted(kept, key=pairs.index) and len(kept) == 5
        assert dropped == ["over_instance_limit"] * 4


def scripted(prompt: str) -> str | tuple[str, str]:
    if prompt.startswith("Come up with a series of tasks"):
        return LIST, "length"
    if "Is it classification?" in prompt:
        return "No"
    return "Example 1\nInput: A line.\nOutput: A short line."


def run(store, tmp_path: Path, **kw) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS)
    cfg = SelfInstructConfig(seeds=str(seeds), n=1, max_steps=1, prompts_per_step=1, **kw)
    run_self_instruct(store, cfg, provider=ScriptedProvider(scripted))
    with store.session() as s:
        reasons = {v.record_id: v.reason for v in s.scalars(select(Verdict))}
        recs = s.scalars(select(Record).where(Record.method == "self_instruct").order_by(Record.id)).all()
        return [(r.instruction, r.status, reasons[r.id]) for r in recs]


def test_a_cut_task_list_loses_every_task_as_in_self_instruct(store, tmp_path) -> None:
    assert run(store, tmp_path) == [
        ("Create a video script about tides for kids.", "filtered_out", "reply_truncated"),
        ("Explain how glaciers move to a child.", "filtered_out", "reply_truncated"),
        ("Describe the", "filtered_out", "reply_truncated"),
    ]


def test_alpacas_variant_loses_only_the_last_task_and_its_blacklist_is_selectable(store, tmp_path) -> None:
    got = run(store, tmp_path, truncated_reply="alpaca", blacklist="self_instruct")
    assert got == [  # rejected candidates are written first, then the accepted tasks with their instances
        ("Describe the", "filtered_out", "truncated"),
        ("Create a video script about tides for kids.", "generated", "ok"),  # "video": Alpaca's word only
        ("Explain how glaciers move to a child.", "generated", "ok"),
    ]


def test_similarity_scores_are_kept_beside_the_most_similar(store, tmp_path) -> None:
    run(store, tmp_path, truncated_reply="alpaca")
    with store.session() as s:
        rec = s.scalars(select(Record).where(Record.instruction.like("Explain how glaciers%"))).first()
        verdict = s.scalars(select(Verdict).where(Verdict.record_id == rec.id)).one()
    pool = [t for t, _ in SEEDS]
    expected = sum(rouge_l_f1(rec.instruction, p) for p in pool) / len(pool)
    assert rec.meta["avg_similarity_score"] == pytest.approx(expected)
    assert verdict.details["avg_similarity_score"] == pytest.approx(expected)
    assert verdict.details["most_similar"][0]["instruction"] in pool


def test_rule_variants_are_config_choices() -> None:
    from datagen.config import build

    assert (
        SelfInstructConfig().blacklist == "alpaca" and SelfInstructConfig().truncated_reply == "self_instruct"
    )
    with pytest.raises(InputError, match="blacklist"):
        build(SelfInstructConfig, {"blacklist": "mine"}, "recipe.yaml")
