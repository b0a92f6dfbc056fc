"""Small statistics shared by review and fine-tune scoring: Wilson score intervals, Cohen's kappa, thresholds."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

Z95 = 1.959963984540054


def wilson(k: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for k successes out of n (Wilson 1927); (0, 1) when n == 0.

    Unlike the normal (Wald) interval it stays inside [0, 1] and keeps its coverage for small n and for rates
    near 0 or 1, which is exactly where review samples live.
    """
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


def rate(k: int, n: int) -> dict[str, float | int | None]:
    lo, hi = wilson(k, n)
    return {"k": k, "n": n, "rate": (k / n) if n else None, "low": lo, "high": hi}


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters' labels on the same items; None when undefined (chance agreement = 1)."""
    if len(a) != len(b):
        raise ValueError("both raters need a label for every item")
    n = len(a)
    if n == 0:
        return None
    po = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[c] * cb[c] for c in set(ca) | set(cb)) / (n * n)
    if pe >= 1.0:
        return None
    return (po - pe) / (1 - pe)


def suggest_threshold(
    scores: Sequence[float], keep: Sequence[bool], direction: str
) -> tuple[float | None, float | None]:
    """The threshold that best separates human keep from reject (max Youden's J = TPR + TNR - 1).

    ``direction`` "min": a record passes when score >= threshold; "max": when score <= threshold. Returns
    (threshold, J), or (None, None) when the humans did not both keep and reject something. Ties go to the
    most permissive threshold (drop as little as possible).
    """
    pos = sum(keep)
    neg = len(keep) - pos
    if pos == 0 or neg == 0:
        return None, None
    cands = sorted(set(scores), reverse=(direction == "max"))
    best: tuple[float | None, float] = (None, -2.0)
    for t in cands:
        passes = [(s >= t) if direction == "min" else (s <= t) for s in scores]
        tp = sum(p and k for p, k in zip(passes, keep, strict=True))
        tn = sum((not p) and (not k) for p, k in zip(passes, keep, strict=True))
        j = tp / pos + tn / neg - 1
        if j > best[1] + 1e-12:
            best = (t, j)
    return best[0], best[1]
