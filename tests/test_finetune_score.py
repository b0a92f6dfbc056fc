"""Scoring: the win-rate statistics on known inputs, position swapping, and a real score of a tiny run."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from datagen.errors import InputError
from datagen.store.models import Run, Score
from finetune.data import Example
from finetune.evaluate import Generated
from finetune.judge import Pick
from finetune.score import judge_pairs, pick_examples
from finetune.stats import combine, perplexity, soft_preference, wilson, win_rate


def test_wilson_known_values() -> None:
    lo, hi = wilson(8, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(0, 20)
    assert lo == 0.0 and round(hi, 4) == 0.1611
    lo, hi = wilson(50, 100)
    assert round(lo, 4) == 0.4038 and round(hi, 4) == 0.5962


def test_combine_cancels_position() -> None:
    assert combine("A", "B") == "win"  # tuned preferred whether shown first or second
    assert combine("B", "A") == "loss"
    assert combine("A", "A") == "tie"  # the judge only followed the position
    assert combine("B", "B") == "tie"
    assert combine(None, "B") == "tie"


def test_win_rate_counts_ties_half() -> None:
    wr = win_rate([("A", "B")] * 6 + [("B", "A")] * 2 + [("A", "A")] * 2)
    assert (wr.n, wr.wins, wr.losses, wr.ties) == (10, 6, 2, 2)
    assert wr.rate == 0.7
    lo, hi = wilson(7, 10)
    assert (wr.ci_low, wr.ci_high) == (lo, hi)
    assert wr.position_a_share == 12 / 20  # 6 + 2 + 2 * 2 picks of A


def test_a_judge_that_always_says_a_gives_exactly_half() -> None:
    wr = win_rate([("A", "A")] * 8)
    assert (wr.rate, wr.ties, wr.position_a_share) == (0.5, 8, 1.0)


class LongerWins:
    """A judge that prefers the longer answer whatever its position (records what it was shown)."""

    name = "longer"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def pick(self, items: list[tuple[str, str, str]]) -> list[Pick]:
        self.seen += items
        return [Pick("A" if len(a) >= len(b) else "B") for _, a, b in items]


def test_judge_pairs_swaps_positions() -> None:
    exs = [Example(1, "Q1", "", "r"), Example(2, "Q2", "ctx", "r")]
    tuned = [Generated("long answer", 2, False), Generated("x", 1, False)]
    base = [Generated("short", 1, False), Generated("longer one", 2, False)]
    judge = LongerWins()
    pairs = judge_pairs(judge, exs, tuned, base)
    assert judge.seen == [
        ("Q1", "long answer", "short"),
        ("Q2\n\nctx", "x", "longer one"),
        ("Q1", "short", "long answer"),
        ("Q2\n\nctx", "longer one", "x"),
    ]
    assert [combine(a.choice, b.choice) for a, b in pairs] == ["win", "loss"]


def test_pick_examples_is_seeded_and_ordered() -> None:
    exs = [Example(i, "q", "", "a") for i in range(10)]
    a = pick_examples(exs, 4, seed=1)
    assert a == pick_examples(exs, 4, seed=1) and len(a) == 4
    assert [e.record_id for e in a] == sorted(e.record_id for e in a)
    assert pick_examples(exs, None, 0) == exs and pick_examples(exs, 20, 0) == exs


def test_soft_preference_cancels_a_constant_lean() -> None:
    assert soft_preference((0.8, 0.2), (0.8, 0.2)) == pytest.approx(0.5)  # leans to A by the same amount
    assert soft_preference((0.9, 0.1), (0.6, 0.4)) == pytest.approx(0.65)  # (0.9 + 0.4) / 2
    assert soft_preference((0.0, 0.0), (0.2, 0.8)) == pytest.approx(0.65)  # no mass: that order counts 0.5


def test_bootstrap_perplexity_intervals() -> None:
    from finetune.stats import bootstrap_perplexity

    base = [(2.0 * math.log(4), 2), (3.0 * math.log(4), 3)]  # perplexity 4 on every item
    tuned = [(2.0 * math.log(2), 2), (3.0 * math.log(2), 3)]  # perplexity 2 on every item
    ci = bootstrap_perplexity(base, tuned, rounds=200, seed=3)
    assert ci["base"] == pytest.approx((4.0, 4.0)) and ci["tuned"] == pytest.approx((2.0, 2.0))
    assert ci["ratio"] == pytest.approx((0.5, 0.5))
    mixed = bootstrap_perplexity([(0.0, 1), (2 * math.log(3), 2)], [(0.0, 1), (0.0, 2)], rounds=500, seed=1)
    lo, hi = mixed["base"]
    assert lo == pytest.approx(1.0) and hi == pytest.approx(3.0)  # all-first and all-second resamples
    assert mixed == bootstrap_perplexity([(0.0, 1), (2 * math.log(3), 2)], [(0.0, 1), (0.0, 2)], 500, seed=1)


def test_perplexity_is_token_weighted() -> None:
    assert perplexity(2 * math.log(3), 2) == pytest.approx(3.0)
    assert perplexity(0.0, 0) is None


def test_score_refuses_an_unknown_train_run(store: Any) -> None:
    from finetune.config import ScoreConfig
    from finetune.score import score

    with pytest.raises(InputError, match="train run 99 not found"):
        score(store, ScoreConfig(train_run=99))


@pytest.mark.slow
def test_score_a_tiny_run_end_to_end(store: Any, tmp_path: Path) -> None:
    from finetune.config import ScoreConfig, TrainConfig
    from finetune.score import score
    from finetune.trainer import train
    from tests.finetune_tiny import make_tiny_model, seed_dataset

    model = make_tiny_model(tmp_path / "tiny")
    seed_dataset(store, splits=(4, 1, 3))
    tr_id = train(
        store,
        TrainConfig(
            dataset="tiny@1",
            base_model=str(model),
            method="lora",
            max_steps=2,
            per_device_train_batch_size=2,
            effective_batch_size=2,
            learning_rate=1e-2,
            precision="fp32",
            max_length=128,
        ),
    )
    out = score(
        store, ScoreConfig(train_run=tr_id, max_new_tokens=3, judge={"model": str(model)}, batch_size=2)
    )
    assert (out["train_run"], out["dataset"], out["n"]) == (tr_id, "tiny@1", 3)
    assert (out["eval"]["name"], out["eval"]["size"], out["eval"]["source"]) == (
        "tiny@1:test",
        3,
        "dataset:tiny@1:test",
    )
    with store.session() as s:
        rows = {r.metric: r for r in s.scalars(select(Score).where(Score.train_run_id == tr_id))}
        usable = rows["judge_check"].details["usable"]
        expected = {"perplexity", "rouge_l", "embedding_similarity", "exact_match", "hit_max_new_tokens",
                    "judge_check"} | ({"win_rate"} if usable else set())  # fmt: skip
        assert set(rows) == expected
        ppl, hit = rows["perplexity"], rows["hit_max_new_tokens"]
        assert ppl.n == 3 and ppl.base_value > 1 and ppl.tuned_value > 1 and ppl.base_value != ppl.tuned_value
        assert ppl.ci_low <= ppl.tuned_value <= ppl.ci_high
        lo, hi = ppl.details["ratio_ci"]
        assert lo <= ppl.details["ratio_tuned_over_base"] <= hi
        lo, hi = ppl.details["diff_ci"]
        assert lo <= ppl.details["diff"] <= hi and ppl.details["diff"] == pytest.approx(
            ppl.tuned_value - ppl.base_value
        )
        assert len(ppl.details["per_item"]["base"]) == 3 and ppl.eval_set_id is not None
        assert 0.0 <= hit.base_value <= 1.0 and hit.details["max_new_tokens"] == 3
        assert len(hit.details["answers"]) == 3 and {"reference", "base", "tuned"} <= set(
            hit.details["answers"][0]
        )
        for m in ("rouge_l", "embedding_similarity", "exact_match"):
            assert rows[m].n == 3 and -1.0 <= rows[m].details["diff"] <= 1.0
        assert rows["judge_check"].details["judge"] == str(model)
        if usable:
            wr = rows["win_rate"]
            assert wr.ci_low <= wr.tuned_value <= wr.ci_high
        assert s.get(Run, ppl.run_id).kind == "score"
    report = Path(out["report"])
    text = report.read_text()
    assert "## Evaluation set" in text and "| rouge_l |" in text and "![loss curve](loss_curve.png)" in text
    assert "## Judge" in text and "## Example answers" in text and out["verdict"] in text
    assert (report.parent / "scores.png").exists()
    # A judge that cannot work is refused before any scoring, with no run row.
    with store.session() as s:
        runs_before = s.scalar(select(func.count()).select_from(Run))
    for bad, message in [
        ({"judge": {"model": "/nonexistent/judge"}}, "judge '/nonexistent/judge': no such folder"),
        ({"judge": {"provider": "openai"}}, "needs a model name (--model, --judge-model"),
    ]:
        with pytest.raises(InputError, match=re.escape(message)):
            score(store, ScoreConfig(train_run=tr_id, **bad))
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Run)) == runs_before


def test_provider_judge_goes_through_the_executor_and_its_cache(store: Any, monkeypatch: Any) -> None:
    from datagen.store.runs import tracked_run
    from finetune.config import ScoreConfig
    from finetune.judge import make_judge
    from tests.fake_api import FakeAPI

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeAPI() as api:
        cfg = ScoreConfig(
            train_run=1,
            judge={
                "provider": "openai",
                "model": "gpt-4o-mini",
                "options": {"base_url": api.openai_url},
                "exec": {"prices": {"gpt-4o-mini": (0.15, 0.6)}, "max_retries": 0},
            },
        )
        items = [("Q1", "a1", "b1"), ("Q2", "a2", "b2")]
        with tracked_run(store, "score", {}) as run:
            judge = make_judge(cfg, store, run)
            picks = judge.pick(items)
            again = judge.pick(items)
        assert judge.name == "openai:gpt-4o-mini"
        # the fake answers "reply to: ...": neither letter, so no pick (a tie downstream), raw text kept
        assert [p.choice for p in picks] == [None, None] and picks[0].raw.startswith(
            "reply to: You are judging"
        )
        assert [p.raw for p in again] == [p.raw for p in picks]
        assert api.requests == 2  # the second round came from the request cache
        sent = sorted(b["messages"][-1]["content"] for b in api.bodies)  # concurrent: any arrival order
        assert "Answer A:\na1\n\nAnswer B:\nb1" in sent[0] and "Answer A:\na2" in sent[1]
        assert all(b["temperature"] == 0.0 for b in api.bodies)


class ClosestToReference:
    """Picks the answer with the higher ROUGE-L against the item's reference: passes the sanity check."""

    name = "closest"

    def __init__(self, refs: dict[str, str]) -> None:
        self.refs = refs

    def pick(self, items: list[tuple[str, str, str]]) -> list[Pick]:
        from datagen.rouge import rouge_l_f1

        out = []
        for q, a, b in items:
            ra, rb = rouge_l_f1(a, self.refs[q]), rouge_l_f1(b, self.refs[q])
            out.append(Pick("A" if ra >= rb else "B"))
        return out


def test_a_judge_that_passes_its_check_gets_a_win_rate(monkeypatch: Any) -> None:
    import finetune.score as score_mod
    from finetune.config import ScoreConfig
    from finetune.score import _judged

    exs = [Example(i, f"Question {i} about topic {i}?", "", f"answer{i} word{i} thing{i}") for i in range(10)]
    refs = {e.instruction: e.output for e in exs}
    monkeypatch.setattr(score_mod, "make_judge", lambda cfg, store, run: ClosestToReference(refs))
    tuned = [Generated(e.output if e.record_id < 7 else "nothing", 3, False) for e in exs]  # right on 7 of 10
    base = [Generated("nothing at all", 3, False) for _ in exs]
    check, win = _judged(ScoreConfig(train_run=1), None, None, exs, base, tuned)  # type: ignore[arg-type]
    assert check["usable"] and check["agreement"] == 1.0 and check["consistency"] == 1.0
    assert win is not None and (win["wins"], win["losses"], win["ties"]) == (7, 0, 3)
    assert win["rate"] == pytest.approx(0.85) and win["judge"] == "closest" and len(win["outcomes"]) == 10

    monkeypatch.setattr(score_mod, "make_judge", lambda cfg, store, run: AlwaysA())
    check, win = _judged(ScoreConfig(train_run=1), None, None, exs, base, tuned)  # type: ignore[arg-type]
    assert not check["usable"] and win is None  # an unusable judge's win-rate is never computed


class AlwaysA:
    name = "always-a"

    def pick(self, items: list[tuple[str, str, str]]) -> list[Pick]:
        return [Pick("A") for _ in items]
