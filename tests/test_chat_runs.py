"""Self-Instruct and Evol-Instruct against a teacher that writes like a chat model: no chat text in the data.

The teacher is the real openai SDK against the loopback API (``tests/fake_api.py``) answering as
``tests/chat_teacher.py`` does: 70% of its replies carry preambles, markdown, sign-offs, run-ons or are cut
by the length limit; outputs contain "For example, ..." and some answers are not in English. Every record
that is data, and every instruction a later prompt may show, must be free of it and be what the teacher meant.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from datagen.generation.config import EvolConfig, SelfInstructConfig
from datagen.generation.evol_instruct import run_evol
from datagen.generation.self_instruct import run_self_instruct
from datagen.store.models import Record
from tests.chat_teacher import ChatTeacher, audit
from tests.fake_api import FakeAPI

NO_STOPS = {
    "sampling": {"stop": None},
    "instance_sampling": {"stop": None},
    "classify_sampling": {"stop": None},
}


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI(chat_share=0.7) as a:
        yield a


def teacher_cfg(api: FakeAPI) -> dict[str, Any]:
    return {"provider": "openai", "model": "gpt-4o-mini", "options": {"base_url": api.openai_url},
            "api_key": "sk-test", "exec": {"concurrency": 4, "max_retries": 1}}  # fmt: skip


def records(store, method: str) -> list[Record]:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return list(s.scalars(select(Record).where(Record.method == method).order_by(Record.id)))


@pytest.mark.parametrize("stops", ["published", "none"])
def test_self_instruct_data_has_no_chat_text(store, api, stops) -> None:  # type: ignore[no-untyped-def]
    """With the published stop strings (which cut some chat replies short) and with none (the parser alone)."""
    extra = NO_STOPS if stops == "none" else {}
    cfg = SelfInstructConfig(seeds="builtin", n=40, max_steps=8, **teacher_cfg(api), **extra)  # type: ignore[arg-type]
    summary = run_self_instruct(store, cfg).summary
    teacher: ChatTeacher = api.responder  # type: ignore[assignment]
    recs = records(store, "self_instruct")
    report = audit(recs, teacher.truth)
    assert report["contaminated"] == 0, report["examples"]
    assert report["not_as_written"] == 0
    assert summary["generated"] >= 40 and report["checked"] >= summary["generated"]
    # the chat shapes were there to be removed, and what came off is kept with the record
    assert sum(n for shape, n in teacher.shapes.items() if shape.startswith("instances:")) >= 10
    kept = [r for r in recs if r.meta.get("instances_stripped")]
    assert kept and all(
        r.raw and all(p["text"][:40] in r.raw for p in r.meta["instances_stripped"]) for r in kept
    )


def test_evol_data_has_no_chat_text_and_keeps_pass_rates(store, api) -> None:  # type: ignore[no-untyped-def]
    cfg = SelfInstructConfig(seeds="builtin", n=20, max_steps=8, **teacher_cfg(api), **NO_STOPS)  # type: ignore[arg-type]
    run_self_instruct(store, cfg)
    evol = run_evol(
        store, EvolConfig(source="method:self_instruct", limit=40, rounds=2, **teacher_cfg(api))
    ).summary
    teacher: ChatTeacher = api.responder  # type: ignore[assignment]
    recs = records(store, "evol_instruct")
    report = audit(recs, teacher.truth)
    assert report["contaminated"] == 0, report["examples"]
    assert report["not_as_written"] == 0
    assert evol["evolutions"] == 80 and evol["survived_elimination"] >= 40
    assert set(evol["pass_rate_by_round"]) == {"1", "2"} and evol["pass_rate_by_operation"]
    assert sum(r["attempted"] for r in evol["pass_rate_by_round"].values()) == 80
    # the teacher's chat shapes reached the parser; none of them survived, and the rewrite replies are kept
    assert sum(n for shape, n in teacher.shapes.items() if shape.startswith(("rewrite:", "answer:"))) >= 20
    stripped = [r for r in recs if r.meta.get("stripped")]
    assert stripped and all(r.raw for r in stripped)
    # Evol answers in Chinese, Russian, Japanese or Greek survive elimination
    assert any(r.status == "generated" and r.output and not r.output[0].isascii() for r in recs)
    reasons = set(evol["eliminated"])
    assert reasons <= {
        "copies_template_words",
        "no_information_gain",
        "rewrite_truncated",
        "answer_sorry_short",
    }
