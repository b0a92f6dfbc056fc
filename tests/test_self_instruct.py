"""Self-Instruct as published, with a scripted teacher at the provider boundary: exact outcomes."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from datagen import prompts
from datagen.errors import InputError
from datagen.generation.config import SelfInstructConfig
from datagen.generation.parsing import (
    parse_instances_input_first,
    parse_instances_output_first,
    parse_task_list,
    parse_yes_no,
)
from datagen.generation.self_instruct import prompt_tasks, run_self_instruct
from datagen.store.models import Record, Verdict
from tests.gen_fakes import ScriptedProvider, write_seeds

SEEDS = [
    ("Give three tips for staying healthy during the winter months.", False),
    ("Decide whether the given movie review is positive or negative.", True),
    ("Translate the given English sentence into French.", False),
]
TASKS_REPLY = (
    "Classify the sentiment of the given tweet as positive or negative.\n"
    "5. Draw a picture of a cat.\n"
    "6. Write a program that sorts numbers.\n"
    "7. Decide whether the given movie review is positive or negative!\n"
    "8. Summarize the given paragraph in one sentence for a busy reader.\n"
    "9. Describe the history of the Roman empire in"
)
CLF_REPLY = (
    "Class label: Positive\nInput: I love this new phone!\n"
    "Class label: Negative\nInput: Worst service ever.\n"
    "Class label: Positive\nInput: Worst service ever.\n"
)
GEN_REPLY = (
    "Example 1\nInput: The meeting was moved to Friday because the room was booked.\n"
    "Output: The meeting is now on Friday.\n"
    "Example 2\nInput: Same text.\nOutput: Same text.\n"
    "Example 3\nInput: Another paragraph about rain.\nOutput:"
)


def last_task(prompt: str) -> str:
    return re.findall(r"Task: (.*)", prompt)[-1]


def teacher(prompt: str) -> str | tuple[str, str]:
    if prompt.startswith("Come up with a series of tasks"):
        return TASKS_REPLY, "length"
    if prompt.startswith("Can the following task"):
        return "Yes" if "tweet" in last_task(prompt) else "No"
    if prompt.startswith("Given the classification task"):
        return CLF_REPLY
    return GEN_REPLY


def config(tmp_path: Path, **kw) -> SelfInstructConfig:  # type: ignore[no-untyped-def]
    """TASKS_REPLY is cut by the length limit: Alpaca's policy rejects only its last task (the Self-Instruct
    default, which rejects them all, has its own test)."""
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS)
    kw.setdefault("truncated_reply", "alpaca")
    return SelfInstructConfig(seeds=str(seeds), n=2, prompts_per_step=1, **kw)


def records(store, method: str = "self_instruct") -> list[Record]:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return list(s.scalars(select(Record).where(Record.method == method).order_by(Record.id)))


def verdicts(store) -> dict[int, tuple[str, bool, str]]:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return {v.record_id: (v.filter_name, v.passed, v.reason) for v in s.scalars(select(Verdict))}


def test_one_step_rejects_with_the_published_rules_and_builds_instances(store, tmp_path) -> None:
    fake = ScriptedProvider(teacher)
    summary = run_self_instruct(store, config(tmp_path), provider=fake).summary
    recs = records(store)
    got = [(r.instruction, r.input, r.output, r.status, r.is_classification) for r in recs]
    assert got == [
        ("Draw a picture of a cat.", "", "", "filtered_out", None),
        ("Write a program that sorts numbers.", "", "", "filtered_out", None),
        ("Decide whether the given movie review is positive or negative!", "", "", "filtered_out", None),
        ("Describe the history of the Roman empire in", "", "", "filtered_out", None),
        # "Worst service ever." has two labels: Self-Instruct drops the whole task, not just the pair
        ("Classify the sentiment of the given tweet as positive or negative.", "", "", "filtered_out", True),
        ("Summarize the given paragraph in one sentence for a busy reader.",
         "The meeting was moved to Friday because the room was booked.", "The meeting is now on Friday.",
         "generated", False),
    ]  # fmt: skip
    v = verdicts(store)
    assert [v[r.id] for r in recs] == [
        ("self_instruct_rules", False, "needs_non_text_io"),
        ("self_instruct_rules", False, "write_a_program"),
        ("self_instruct_rules", False, "rouge_too_similar"),
        ("self_instruct_rules", False, "truncated"),
        ("self_instruct_instances", False, "no_valid_instances"),
        ("self_instruct_rules", True, "ok"),
    ]
    dup = recs[2].meta
    assert dup["rouge_l_max"] == 1.0
    assert dup["most_similar"][0] == {"instruction": SEEDS[1][0], "rouge_l": 1.0}
    assert recs[0].meta["word"] == "draw"
    assert recs[4].meta["instances_dropped"] == ["conflicting_outputs"] * 3
    assert recs[5].meta["instances_dropped"] == ["output_equals_input", "empty_output"]
    assert recs[4].template_name == "self_instruct/instances_output_first"
    assert recs[5].template_name == "self_instruct/instances_input_first"
    assert all(r.template_sha256 and r.request_hash and r.parent_id is None for r in recs)
    assert recs[4].meta["templates"] == {
        "self_instruct/generate_tasks": prompts.load("self_instruct/generate_tasks").sha256,
        "self_instruct/is_classification": prompts.load("self_instruct/is_classification").sha256,
        "self_instruct/instances_output_first": recs[4].template_sha256,
    }
    assert summary["steps"] == 1
    assert summary["candidates"] == 6
    assert summary["instructions_accepted"] == 2 and summary["generated"] == 1
    assert summary["stopped"].startswith("reached n=2 with 2")
    assert summary["rejected"] == {
        "needs_non_text_io": 1, "write_a_program": 1, "rouge_too_similar": 1, "truncated": 1,
        "no_valid_instances": 1,
    }  # fmt: skip
    assert summary["requests"] == 5  # 1 task list + 2 classification + 2 instance prompts
    assert summary["classification_tasks"] == 1
    # the prompt showed the three seeds as a numbered list and asked for the next item
    first = fake.history[0]
    assert first.splitlines()[0] == "Come up with a series of tasks:"
    assert sorted(re.findall(r"^\d\. (.*)$", first, re.M)) == sorted(s for s, _ in SEEDS)
    assert first.rstrip().endswith("4.")


def test_rerun_replays_the_cache_and_inserts_nothing_twice(store, tmp_path) -> None:
    cfg = config(tmp_path)
    run_self_instruct(store, cfg, provider=ScriptedProvider(teacher))
    before = [(r.uid, r.instruction, r.input, r.output, r.status) for r in records(store)]
    again = ScriptedProvider(teacher)
    summary = run_self_instruct(store, cfg, provider=again).summary
    assert again.history == []
    assert summary["cache_hits"] == 5 and summary["requests"] == 0
    assert summary["records_inserted"] == 0 and summary["records"] == 6
    assert [(r.uid, r.instruction, r.input, r.output, r.status) for r in records(store)] == before
    assert len(records(store, "seed")) == 3
    assert {r.run_id for r in records(store)} == {1}  # a succeeded run keeps its records


def test_a_rerun_takes_over_the_records_of_a_run_that_never_finished(store, tmp_path) -> None:
    from sqlalchemy import update

    from datagen.store.models import Run

    cfg = config(tmp_path)
    first = run_self_instruct(store, cfg, provider=ScriptedProvider(teacher)).summary
    with store.session() as s:  # as if killed: the run row never left "running"
        s.execute(update(Run).where(Run.id == first["run_id"]).values(status="running"))
    second = run_self_instruct(store, cfg, provider=ScriptedProvider(teacher)).summary
    assert {r.run_id for r in records(store)} == {second["run_id"]}
    with store.session() as s:
        assert set(s.scalars(select(Verdict.run_id))) == {second["run_id"]}


def test_unparseable_reply_is_kept_as_parse_failed_with_raw_text(store, tmp_path) -> None:
    fake = ScriptedProvider(lambda p: "   \n ")
    summary = run_self_instruct(store, config(tmp_path, max_steps=2), provider=fake).summary
    recs = records(store)
    assert [(r.status, r.raw, r.instruction) for r in recs] == [("parse_failed", "   \n ", "")] * 2
    assert summary["parse_failed"] == 2 and summary["steps"] == 2 and summary["instructions_accepted"] == 0
    assert summary["stopped"].startswith("max_steps=2 reached with 0 of n=")  # says why it fell short


def test_a_reply_cut_after_its_only_instance_is_no_valid_instances_not_parse_failed(store, tmp_path) -> None:
    def cut(prompt: str) -> str | tuple[str, str]:
        if prompt.startswith("Come up with examples"):
            return "Example 1\nInput: A long paragraph.\nOutput: A short", "length"
        return teacher(prompt)

    summary = run_self_instruct(store, config(tmp_path), provider=ScriptedProvider(cut)).summary
    [summarize] = [r for r in records(store) if r.instruction.startswith("Summarize")]
    assert summarize.status == "filtered_out" and summarize.meta["instances_dropped"] == ["truncated"]
    assert verdicts(store)[summarize.id] == ("self_instruct_instances", False, "no_valid_instances")
    assert summary["parse_failed"] == 0
    assert summary["rejected"]["no_valid_instances"] == 2  # and the classification task (conflicting labels)


def test_each_prompt_shows_six_seeds_and_two_machine_tasks_once_available() -> None:
    cfg = SelfInstructConfig(seeds="x")
    seeds = [f"seed task number {i}" for i in range(20)]
    rng = random.Random(0)
    assert (
        all(t in seeds for t in prompt_tasks(rng, seeds, [], cfg))
        and len(prompt_tasks(rng, seeds, [], cfg)) == 8
    )
    machine = [f"machine task number {i}" for i in range(5)]
    shown = prompt_tasks(rng, seeds, machine, cfg)
    assert len(shown) == 8
    assert sum(t in machine for t in shown) == 2 and sum(t in seeds for t in shown) == 6


def test_seeds_come_from_the_database_when_no_file_is_given(store) -> None:
    with pytest.raises(InputError, match="no seed tasks"):
        run_self_instruct(store, SelfInstructConfig(n=1), provider=ScriptedProvider(teacher))


def test_parsers() -> None:
    got = parse_task_list("9. First task here\n10) Second task\n\n11. ", "stop")
    assert [(c.text, c.truncated) for c in got] == [("First task here", False), ("Second task", False)]
    got = parse_task_list("Alpha beta gamma delta\n10. Cut off in the mid", "length")
    assert [(c.text, c.truncated) for c in got] == [
        ("Alpha beta gamma delta", False),
        ("Cut off in the mid", True),
    ]
    assert parse_task_list("", "stop") == []
    assert [parse_yes_no(t) for t in ("Yes", " no.", "I think yes", "maybe", "well, yes and no")] == [
        True, False, True, None, None,
    ]  # fmt: skip
    assert parse_instances_input_first("Output: just this", "stop") == ([("", "just this")], 0)
    assert parse_instances_input_first(
        "Example 1\nInput: a\nOutput: b\nExample 2\nInput: c\nOutput: d", "length"
    ) == (
        [("a", "b")],
        1,
    )
    assert parse_instances_input_first("no structure at all", "stop") == ([], 0)
    assert parse_instances_output_first("Class label: Yes\nInput: x y\nClass label: No", "stop") == (
        [("x y", "Yes"), ("", "No")],
        0,
    )
    assert parse_instances_output_first("Yes", "stop") == ([], 0)


def test_builtin_seed_tasks_are_valid_self_instruct_seeds(store) -> None:
    from datagen.generation.pool import load_seeds
    from datagen.selfinstruct_rules import instruction_problem

    seeds = load_seeds(store, "builtin", None)
    assert len(seeds) == 31
    assert sum(bool(s.is_classification) for s in seeds) == 10
    assert [s.instruction for s in seeds if instruction_problem(s.instruction)] == []
    assert load_seeds(store, None, None) == seeds  # now in the database


@pytest.mark.slow
def test_real_local_smollm2_teacher_end_to_end_keeps_every_reply(store) -> None:
    """SmolLM2 is a weak teacher; what is asserted is the bookkeeping: every candidate is a record."""
    from datagen.generation.config import EvolConfig
    from datagen.generation.evol_instruct import run_evol
    from datagen.providers.base import SamplingParams

    short = SamplingParams(temperature=0.7, top_p=0.5, max_tokens=32)
    cfg = SelfInstructConfig(seeds="builtin", n=1, max_steps=1, prompts_per_step=1, sampling=short,
                             instance_sampling=SamplingParams(temperature=0.0, max_tokens=24))  # fmt: skip
    si = run_self_instruct(store, cfg).summary
    recs = records(store)
    assert si["requests"] == 1 + 2 * si["instructions_accepted"] and si["cost_usd"] == 0.0
    assert len(recs) == si["records"] >= 1
    v = verdicts(store)
    for r in recs:
        assert r.provider == "local" and r.template_sha256 and r.request_hash
        assert r.status in ("generated", "filtered_out", "parse_failed")
        if r.status == "parse_failed":
            assert r.raw is not None
        else:
            assert v[r.id][1] == (r.status == "generated")
    ev = run_evol(store, EvolConfig(source="method:seed", limit=1, rounds=1, sampling=SamplingParams(max_tokens=16),
                                    answer_sampling=SamplingParams(max_tokens=16))).summary  # fmt: skip
    evolved = records(store, "evol_instruct")
    assert len(evolved) == ev["evolutions"] == 1
    assert evolved[0].parent_id is not None and evolved[0].round == 1 and evolved[0].operation


def test_a_partial_sampling_section_keeps_the_methods_other_defaults(tmp_path) -> None:
    from datagen.config import load_config
    from datagen.generation.config import EvolConfig
    from datagen.providers.base import SamplingParams

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "self_instruct:\n  sampling: {max_tokens: 64}\nevol:\n  answer_sampling: {top_p: 0.5}\n"
    )
    si = load_config(SelfInstructConfig, recipe, {"sampling": {"temperature": 0.2}}, section="self_instruct")
    published = SelfInstructConfig(provider="openai").sampling  # the published task-list sampling
    assert si.sampling == published.model_copy(update={"temperature": 0.2, "max_tokens": 64})
    assert si.sampling.top_p == 0.5 and si.sampling.presence_penalty == 2.0  # not top_p 0.9
    ev = load_config(EvolConfig, recipe, section="evol")
    # the local provider caps the default length it is not given at 256 tokens
    assert ev.answer_sampling == SamplingParams(temperature=1.0, top_p=0.5, max_tokens=256)
    assert ev.sampling == EvolConfig().sampling


def test_the_api_key_is_never_stored_with_the_run(store, tmp_path) -> None:
    from datagen.store.models import Run

    run_self_instruct(store, config(tmp_path, api_key="sk-secret-123"), provider=ScriptedProvider(teacher))
    with store.session() as s:
        configs = [r.config for r in s.scalars(select(Run))]
    assert configs and all("sk-secret-123" not in str(c) for c in configs)
    assert configs[0]["method"] == "self_instruct" and configs[0]["n"] == 2
