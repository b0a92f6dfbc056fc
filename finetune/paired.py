"""Paired bootstrap intervals of a tuned-minus-base difference measured on the same items.

Both models answer the same items, so the items are resampled together (one resample draws n item indices
with replacement and recomputes the statistic for base and tuned on exactly those items); the 95% interval
of each quantity is the 2.5th and 97.5th percentile of its resampled values (percentile bootstrap, numpy's
linear interpolation). The draws come from ``numpy.random.default_rng(seed)``, so intervals are reproducible.

Two statistics: the **mean** of a per-item value (ROUGE-L F1, embedding similarity, exact match, accuracy,
hit-the-limit), and **perplexity** — token-weighted, exp(sum of answer NLL / sum of answer tokens) over the
resampled items. A difference is called distinguishable from noise when its interval excludes 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

ROUNDS = 2000


def method(rounds: int = ROUNDS) -> str:
    """How the intervals were computed, as reports and score rows state it."""
    return (
        "paired percentile bootstrap over items (items resampled together for base and tuned), "
        f"{rounds} resamples, seeded; 95% interval = 2.5th-97.5th percentile"
    )


@dataclass(frozen=True)
class Paired:
    """Base and tuned values of one statistic on n items, their difference (tuned - base), 95% intervals."""

    n: int
    base: float
    tuned: float
    diff: float
    base_ci: tuple[float, float]
    tuned_ci: tuple[float, float]
    diff_ci: tuple[float, float]

    @property
    def distinguishable(self) -> bool:
        """The difference's interval excludes 0 (and is not degenerate at 0)."""
        lo, hi = self.diff_ci
        return lo > 0 or hi < 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "distinguishable": self.distinguishable}


def _ci(draws: np.ndarray) -> tuple[float, float]:
    lo, hi = np.quantile(draws, [0.025, 0.975])
    return float(lo), float(hi)


def _indices(n: int, rounds: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(rounds, n))


def bootstrap_mean(
    base: list[float], tuned: list[float], rounds: int = ROUNDS, seed: int = 0
) -> Paired | None:
    """Means of a per-item value for base and tuned, their difference, and paired 95% intervals (None: no items)."""
    if len(base) != len(tuned):
        raise ValueError("base and tuned need a value for every item")
    if not base:
        return None
    b, t = np.asarray(base, dtype=float), np.asarray(tuned, dtype=float)
    idx = _indices(len(b), rounds, seed)
    bd, td = b[idx].mean(axis=1), t[idx].mean(axis=1)
    return Paired(
        len(b), float(b.mean()), float(t.mean()), float(t.mean() - b.mean()), _ci(bd), _ci(td), _ci(td - bd)
    )


def bootstrap_perplexity(
    base: list[tuple[float, int]], tuned: list[tuple[float, int]], rounds: int = ROUNDS, seed: int = 0
) -> Paired | None:
    """Token-weighted perplexities from per-item (summed answer NLL, answer tokens), their difference and paired
    95% intervals (None: no items or no tokens)."""
    if len(base) != len(tuned):
        raise ValueError("base and tuned need a value for every item")
    bn, bt = (np.asarray(x, dtype=float) for x in zip(*base, strict=True)) if base else ([], [])
    tn, tt = (np.asarray(x, dtype=float) for x in zip(*tuned, strict=True)) if tuned else ([], [])
    if not len(bn) or not np.sum(bt) or not np.sum(tt):
        return None
    idx = _indices(len(bn), rounds, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        bd = np.exp(bn[idx].sum(axis=1) / bt[idx].sum(axis=1))
        td = np.exp(tn[idx].sum(axis=1) / tt[idx].sum(axis=1))
    ok = np.isfinite(bd) & np.isfinite(td)  # a resample of only token-less items has no perplexity
    bd, td = bd[ok], td[ok]
    pb, pt = math.exp(bn.sum() / bt.sum()), math.exp(tn.sum() / tt.sum())
    return Paired(len(bn), pb, pt, pt - pb, _ci(bd), _ci(td), _ci(td - bd))
