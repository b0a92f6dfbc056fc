"""Sampling as published, per prompt kind, on the wire (the real SDKs against the loopback server), what a
provider cannot take emulated or dropped and said on every record, and short decisions cut by the length limit."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from datagen.endpoint import ModelEndpoint
from datagen.generation.config import EvolConfig, SelfInstructConfig
from datagen.generation.evol_instruct import run_evol
from datagen.generation.self_instruct import run_self_instruct
from datagen.providers.base import Provider, Request, Result, SamplingParams
from datagen.providers.exec_config import ExecConfig
from datagen.providers.executor import Executor
from datagen.providers.registry import make_provider
from datagen.store.models import Completion, Record
from tests.fake_api import FakeAPI
from tests.gen_fakes import write_seeds

SEEDS = [
    ("Give three tips for staying healthy during the winter months.", False),
    ("Decide whether the given movie review is positive or negative.", True),
    ("Translate the given English sentence into French.", False),
]
EVOLVED = "Summarize the given news article in one sentence of at most twelve words for a commuter."
ANSWER = " ".join(["Tides rise and fall twice a day because the moon pulls on the oceans."] * 3)


def last_task(prompt: str) -> str:
    return re.findall(r"Task: (.*)", prompt)[-1]


def responder(prompt: str) -> str:
    if prompt.startswith("Come up with a series of tasks"):
        return (
            "Summarize the given news article in one short sentence for a busy reader.\n"
            "10. Tell whether the given sentence mentions a specific number or not."
        )
    if prompt.startswith("Can the following task"):
        return "Yes" if "specific number" in last_task(prompt) else "No"
    if prompt.startswith("Come up with examples"):
        return (
            "Example 1\nInput: The council approved the new park after a long debate.\n"
            "Output: The council approved a new park.\n"
            "Example 2\nInput: Rain is expected all week across the whole region.\nOutput: Rain all week."
        )
    if prompt.startswith("Given the classification task"):
        return (
            "Class label: Yes\nInput: The bus leaves at 7 am.\nClass label: No\nInput: The bus leaves soon."
        )
    if "Prompt Rewriter" in prompt or "Prompt Creator" in prompt:
        return EVOLVED
    if prompt.startswith("Here are two Instructions"):
        return "Not Equal"
    return ANSWER


# prompt kind (how its prompt starts) -> the sampling the reference code sends for it
PUBLISHED: list[tuple[str, dict[str, Any]]] = [
    ("Come up with a series of tasks", {"temperature": 0.7, "top_p": 0.5, "max_tokens": 1024,
                                        "presence_penalty": 2.0, "stop": ["\n16", "16.", "16 ."]}),
    ("Can the following task", {"temperature": 0.0, "top_p": 1.0, "max_tokens": 3, "presence_penalty": None,
                                "stop": ["\n", "Task"]}),
    ("Come up with examples", {"temperature": 0.0, "top_p": 1.0, "max_tokens": 350, "presence_penalty": 1.5,
                               "stop": ["Example 6", "Task:"]}),
    ("Given the classification task", {"temperature": 0.0, "top_p": 1.0, "max_tokens": 350,
                                       "presence_penalty": 1.5, "stop": ["Example 6", "Task:"]}),
    ("I want you to act as a Prompt", {"temperature": 1.0, "top_p": 0.95, "max_tokens": 2048,
                                       "presence_penalty": None, "stop": None}),
    ("Here are two Instructions", {"temperature": 0.0, "top_p": 1.0, "max_tokens": 8, "presence_penalty": None,
                                   "stop": None}),
    (EVOLVED, {"temperature": 1.0, "top_p": 0.95, "max_tokens": 2048, "presence_penalty": None, "stop": None}),
]  # fmt: skip


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI(responder=responder) as a:
        yield a


def teacher(api: FakeAPI, provider: str = "openai", **options: Any) -> dict[str, Any]:
    if provider == "openai":
        return {"provider": "openai", "model": "gpt-4o-mini", "api_key": "sk-test",
                "options": {"base_url": api.openai_url, **options}}  # fmt: skip
    return {"provider": "anthropic", "model": "claude-3-5-haiku", "api_key": "sk-test",
            "options": {"base_url": api.url, **options}}  # fmt: skip


def both_methods(store: Any, tmp_path: Path, who: dict[str, Any]) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS)
    si = SelfInstructConfig(seeds=str(seeds), n=2, prompts_per_step=1, max_steps=1, **who)
    run = run_self_instruct(store, si)
    run_evol(store, EvolConfig(source=f"run:{run.run_id}", rounds=1, **who))


def user_text(body: dict[str, Any]) -> str:
    return next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")


def by_kind(bodies: list[dict[str, Any]], start: str) -> list[dict[str, Any]]:
    return [b for b in bodies if user_text(b).startswith(start)]


@pytest.mark.parametrize(("start", "want"), PUBLISHED, ids=[k[:24] for k, _ in PUBLISHED])
def test_each_prompt_kind_goes_out_with_its_published_sampling(store, api, tmp_path, start, want) -> None:
    both_methods(store, tmp_path, teacher(api))
    sent = by_kind(api.bodies, start)
    assert sent, f"no {start!r} request was sent"
    for body in sent:
        got = {k: body.get(k) for k in want}
        assert got == want


def test_records_carry_the_sampling_of_every_request_behind_them(store, api, tmp_path) -> None:
    both_methods(store, tmp_path, teacher(api))
    with store.session() as s:
        si = s.scalars(
            select(Record).where(Record.method == "self_instruct", Record.status == "generated")
        ).first()
        ev = s.scalars(select(Record).where(Record.method == "evol_instruct", Record.output != "")).first()
    assert si is not None and ev is not None
    assert si.params["presence_penalty"] == 1.5 and si.params["emulated"] == [] and si.params["dropped"] == []
    kinds = si.meta["sampling"]
    assert set(kinds) == set(si.meta["templates"]) and len(kinds) == 3
    assert kinds["self_instruct/generate_tasks"]["stop"] == ["\n16", "16.", "16 ."]
    assert kinds["self_instruct/is_classification"]["max_tokens"] == 3
    assert set(ev.meta["sampling"]) == {ev.template_name, "evol_instruct/answer", "evol_instruct/judge_equal"}
    assert ev.meta["sampling"]["evol_instruct/answer"]["temperature"] == 1.0


def test_anthropic_cuts_blank_stops_here_drops_what_it_lacks_and_records_say_so(store, api, tmp_path) -> None:
    both_methods(store, tmp_path, teacher(api, "anthropic"))
    tasks = by_kind(api.bodies, "Come up with a series of tasks")[0]
    assert tasks["stop_sequences"] == ["\n16", "16.", "16 ."]
    assert "presence_penalty" not in tasks and "temperature" not in tasks
    assert by_kind(api.bodies, "Can the following task")[0]["stop_sequences"] == ["Task"]
    with store.session() as s:
        rec = s.scalars(
            select(Record).where(Record.status == "generated", Record.method == "self_instruct")
        ).first()
    assert rec is not None
    assert rec.params["emulated"] == [] and rec.params["dropped"] == [
        "temperature",
        "top_p",
        "presence_penalty",
    ]
    tasks_note = rec.meta["sampling"]["self_instruct/generate_tasks"]
    assert tasks_note["emulated"] == []
    assert tasks_note["dropped"] == ["temperature", "top_p", "presence_penalty"]
    classify_note = rec.meta["sampling"]["self_instruct/is_classification"]
    assert classify_note["emulated"] == ["stop"]  # "\n" is refused by the API: cut here


@pytest.mark.parametrize(
    ("kind", "options", "params", "sent", "emulated", "dropped"),
    [
        ("openai", {}, SamplingParams(stop=["a", "b", "c", "d", "e"], presence_penalty=1.0, seed=3),
         {"stop": ["a", "b", "c", "d"], "presence_penalty": 1.0, "seed": 3}, ["stop"], []),
        ("openai", {"send_seed": False}, SamplingParams(seed=3), {"seed": None}, [], ["seed"]),
        ("anthropic", {}, SamplingParams(stop=["\n", "END"], presence_penalty=2.0),
         {"stop": ["END"], "presence_penalty": 0.0}, ["stop"], ["temperature", "top_p", "presence_penalty"]),
        ("anthropic", {"send_sampling": True}, SamplingParams(stop=["END"]), {"stop": ["END"]}, [], []),
    ],
    ids=["openai-5-stops", "openai-no-seed", "anthropic", "anthropic-send-sampling"],
)  # fmt: skip
def test_what_each_provider_sends_emulates_and_drops(
    api, kind, options, params, sent, emulated, dropped
) -> None:
    who = teacher(api, kind, **options)
    provider = make_provider(ModelEndpoint(**who))
    how = provider.sending(params)
    assert {k: getattr(how.params, k) for k in sent} == sent
    assert (list(how.emulated), list(how.dropped)) == (emulated, dropped)


def test_the_local_provider_takes_every_parameter() -> None:
    from datagen.providers.local import LocalProvider

    how = LocalProvider("x").sending(SamplingParams(stop=["\n\n"], presence_penalty=1.5, seed=1))
    assert how.note() == {"emulated": [], "dropped": []}


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_a_stop_the_api_was_not_sent_cuts_the_reply_here_and_the_cache_keeps_what_came(store, kind) -> None:
    with FakeAPI(responder=lambda prompt: "first part\n\nsecond part") as api:
        provider = make_provider(ModelEndpoint(**teacher(api, kind)))
        stops = ["\n\n"] if kind == "anthropic" else ["w", "x", "y", "z", "\n\n"]  # past OpenAI's 4
        ex = Executor(store, provider, ExecConfig())
        req = Request.of([{"role": "user", "content": "hi"}], SamplingParams(max_tokens=20, stop=stops))
        [res] = ex.run([req], progress=False)
        assert (res.text, res.finish_reason) == ("first part", "stop")
        with store.session() as s:
            assert s.scalars(select(Completion.text)).one() == "first part\n\nsecond part"
        [again] = ex.run([req], progress=False)  # a replay comes out the same
        assert (again.text, again.cached, api.requests) == ("first part", True, 1)


class ShortAnswers(Provider):
    """Answers the classification question from a table keyed by (task, max_tokens); other prompts plainly."""

    name = "short-answers"
    free = True

    def __init__(self, answers: dict[tuple[str, int], tuple[str, str]]) -> None:
        super().__init__("short-1")
        self.answers = answers
        self.asked: list[tuple[str, int]] = []

    def complete(self, requests: list[Request]) -> list[Result]:
        out = []
        for r in requests:
            prompt = r.messages[-1][1]
            if prompt.startswith("Can the following task"):
                key = (last_task(prompt), r.params.max_tokens)
                self.asked.append(key)
                text, finish = self.answers[key]
            else:
                text, finish = responder(prompt), "stop"
            out.append(Result(text, self.model, 10, 3, finish))
        return out


def test_a_decision_cut_short_is_asked_again_with_room_then_marked_truncated(store, tmp_path) -> None:
    summarize = "Summarize the given news article in one short sentence for a busy reader."
    review = "Tell whether the given sentence mentions a specific number or not."
    answers = {
        (review, 3): ("Ye", "length"),  # cut inside the word: asked again
        (review, 16): ("Yes, it is a", "length"),  # cut, but the answer is whole
        (summarize, 3): ("N", "length"),
        (summarize, 16): ("N", "length"),  # cut twice: no decision
    }
    provider = ShortAnswers(answers)
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS)
    cfg = SelfInstructConfig(seeds=str(seeds), n=2, prompts_per_step=1, max_steps=1)
    summary = run_self_instruct(store, cfg, provider=provider).summary
    assert sorted(provider.asked) == sorted(answers)
    assert summary["classify_truncated"] == 1 and summary["classification_tasks"] == 1
    with store.session() as s:
        recs = {r.instruction: r for r in s.scalars(select(Record).where(Record.method == "self_instruct"))}
    assert recs[review].is_classification is True
    assert recs[review].meta["sampling"]["self_instruct/is_classification"]["max_tokens"] == 16
    assert recs[summarize].is_classification is None  # never read as "not classification"
    assert recs[summarize].meta["classify_truncated"] == "N"
    assert recs[summarize].template_name == "self_instruct/instances_input_first"
    # a rerun replays both answers of each task from the cache and decides the same
    provider.asked.clear()
    again = run_self_instruct(store, cfg, provider=provider).summary
    assert provider.asked == [] and again["classify_truncated"] == 1


def test_local_generation_defaults_to_256_new_tokens_unless_a_length_is_set() -> None:
    local = EvolConfig()
    assert (local.sampling.max_tokens, local.answer_sampling.max_tokens, local.judge_sampling.max_tokens) == (
        256,
        256,
        8,
    )
    assert SelfInstructConfig().sampling.max_tokens == 256
    assert SelfInstructConfig().instance_sampling.max_tokens == 256
    assert SelfInstructConfig().classify_sampling.max_tokens == 3
    asked = EvolConfig(answer_sampling={"max_tokens": 1024})
    assert (asked.answer_sampling.max_tokens, asked.sampling.max_tokens) == (1024, 256)
    api = EvolConfig(provider="openai", model="gpt-4o-mini")
    assert (api.sampling.max_tokens, api.answer_sampling.max_tokens) == (2048, 2048)


def test_a_templates_dir_replaces_the_templates_it_holds_and_records_store_their_sha256(
    store, tmp_path
) -> None:
    import hashlib

    from datagen import prompts
    from datagen.errors import InputError
    from tests.gen_fakes import ScriptedProvider

    folder = tmp_path / "published"
    (folder / "self_instruct").mkdir(parents=True)
    mine = "Can the following task be answered with one of a few labels?\n\nTask: {{ instruction }}\nIs it classification?"
    (folder / "self_instruct" / "is_classification.j2").write_text(mine)
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS)
    cfg = SelfInstructConfig(
        seeds=str(seeds), n=2, prompts_per_step=1, max_steps=1, templates_dir=str(folder)
    )
    provider = ScriptedProvider(responder)
    run_self_instruct(store, cfg, provider=provider)
    assert any(
        p.startswith("Can the following task be answered with one of a few labels?") for p in provider.history
    )
    with store.session() as s:
        rec = s.scalars(
            select(Record).where(Record.status == "generated", Record.method == "self_instruct")
        ).first()
    assert rec is not None

    assert rec.meta["templates"] == {
        "self_instruct/generate_tasks": prompts.load("self_instruct/generate_tasks").sha256,  # built in
        "self_instruct/is_classification": hashlib.sha256(mine.encode()).hexdigest(),  # from the folder
        rec.template_name: prompts.load(rec.template_name).sha256,
    }
    with pytest.raises(InputError, match="templates_dir"):
        run_self_instruct(
            store, cfg.model_copy(update={"templates_dir": str(tmp_path / "nope")}), provider=provider
        )


def test_local_sampling_applies_the_presence_penalty_and_ends_a_row_at_its_stop_string() -> None:
    import torch

    from datagen.lm.generate import RowSampler

    greedy = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=10)
    params = [
        greedy.model_copy(update={"presence_penalty": 2.0}),
        greedy,
        greedy.model_copy(update={"stop": ["END"]}),
    ]
    answers = torch.tensor([[5, 1, 3]] * 3)  # a 1-token prompt, then the answer so far: tokens 1 and 3
    scores = torch.tensor([[0.0, 0.0, 0.0, 3.0, 2.0, 0.0]] * 3)  # token 3 is the best, and already said
    sampler = RowSampler(
        params, [0, 0, 0], 1, eos=0, decode=lambda row: "so far END" if row == [1, 3] else ""
    )
    picks = sampler(answers, scores).argmax(dim=-1).tolist()
    assert picks == [4, 3, 0]  # penalized: 3 - 2 < 2; plain: 3; its text holds "END": the row ends (EOS)
