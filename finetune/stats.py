"""Statistics of the base-vs-tuned comparison: pairwise outcomes with swapped positions, Wilson intervals.

Each held-out item is judged twice: once with the tuned answer in position A, once with it in position B.
An item is a **win** when the judge prefers the tuned answer in both orders, a **loss** when it prefers the
base answer in both, and a **tie** when its choice followed the position (or a judgment failed) — swapping
cancels the judge's order bias instead of letting it pick a side. The win-rate counts ties as half a win:
``(wins + ties/2) / n``; its 95% interval is the Wilson score interval with that many successes out of n.
With no ties that is the textbook Wilson interval; with ties it is conservative, because an item scored
0, 1/2 or 1 has at most the variance of a 0/1 item with the same mean.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from datagen.intervals import wilson

METHOD = (
    "each item judged twice with positions swapped; win = tuned preferred in both orders, loss = base "
    "preferred in both, tie = the choice followed the position; win-rate = (wins + ties/2) / n; 95% interval "
    "= Wilson score interval with wins + ties/2 successes out of n"
)


def combine(tuned_first: str | None, tuned_second: str | None) -> str:
    """Outcome of one item from the judge's picks: ``tuned_first`` is the pick ("A"/"B") when the tuned answer
    was shown as A, ``tuned_second`` when it was shown as B. Returns ``win``, ``loss`` or ``tie``."""
    prefers_tuned = (tuned_first == "A", tuned_second == "B")
    prefers_base = (tuned_first == "B", tuned_second == "A")
    if all(prefers_tuned):
        return "win"
    if all(prefers_base):
        return "loss"
    return "tie"


@dataclass(frozen=True)
class WinRate:
    n: int
    wins: int
    losses: int
    ties: int
    rate: float
    ci_low: float
    ci_high: float
    position_a_share: float  # share of all judgments that picked position A (0.5 = no order bias)
    method: str = METHOD

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def win_rate(picks: list[tuple[str | None, str | None]]) -> WinRate:
    """Win-rate of tuned over base from per-item (pick with tuned as A, pick with tuned as B)."""
    outcomes = [combine(a, b) for a, b in picks]
    n = len(outcomes)
    wins, losses = outcomes.count("win"), outcomes.count("loss")
    ties = n - wins - losses
    succ = wins + ties / 2
    lo, hi = wilson(succ, n)
    judged = [p for pair in picks for p in pair if p in ("A", "B")]
    a_share = judged.count("A") / len(judged) if judged else 0.0
    return WinRate(n, wins, losses, ties, succ / n if n else 0.0, lo, hi, a_share)


def soft_preference(first: tuple[float, float], second: tuple[float, float]) -> float:
    """Position-debiased preference for tuned from the judge's probabilities (local judges only).

    ``first`` = (P(A), P(B)) with tuned shown as A, ``second`` the same with tuned shown as B. Each order gives
    q = P(A) / (P(A) + P(B)); the preference is (q_first + (1 - q_second)) / 2, so a judge that leans to A by
    the same amount in both orders lands on 0.5 and only a shift between the orders moves it.
    """
    q1 = first[0] / (first[0] + first[1]) if sum(first) > 0 else 0.5
    q2 = second[0] / (second[0] + second[1]) if sum(second) > 0 else 0.5
    return (q1 + (1 - q2)) / 2


def perplexity(nll_sum: float, tokens: int) -> float | None:
    """Token-weighted perplexity: exp(total negative log-likelihood / total answer tokens)."""
    return math.exp(nll_sum / tokens) if tokens else None


def bootstrap_perplexity(
    base: list[tuple[float, int]], tuned: list[tuple[float, int]], rounds: int = 2000, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """Paired percentile bootstrap (items resampled together) of the base and tuned perplexities and of
    their ratio tuned/base; each as a 95% interval. Items are (summed answer NLL, answer tokens)."""
    import random

    rng = random.Random(seed)
    n = len(base)
    draws: dict[str, list[float]] = {"base": [], "tuned": [], "ratio": []}
    for _ in range(rounds if n else 0):
        idx = [rng.randrange(n) for _ in range(n)]
        toks = sum(base[i][1] for i in idx)
        if not toks:
            continue
        b = math.exp(sum(base[i][0] for i in idx) / toks)
        t = math.exp(sum(tuned[i][0] for i in idx) / toks)
        draws["base"].append(b)
        draws["tuned"].append(t)
        draws["ratio"].append(t / b)
    out = {}
    for k, v in draws.items():
        v.sort()
        out[k] = (v[int(0.025 * (len(v) - 1))], v[int(0.975 * (len(v) - 1))]) if v else (math.nan, math.nan)
    return out


def share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None
