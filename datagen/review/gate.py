"""The review gate: a dataset is only frozen from a scope whose review is sufficient and good enough.

Two checks, both on the kept (filter-passed) slice: the reviewed fraction must reach ``min_reviewed_fraction``
and the Wilson 95% lower bound of the acceptance rate must reach ``acceptance_floor``. ``force`` creates the
dataset anyway; the result (with the failures) is stored on the dataset either way.
"""

from __future__ import annotations

from typing import Any


def check_gate(
    stats: dict[str, Any], min_reviewed_fraction: float, acceptance_floor: float, force: bool = False
) -> dict[str, Any]:
    """The gate's verdict: ``passed``, the ``failures`` in words, the numbers it used, and ``forced``."""
    failures = []
    frac = float(stats.get("reviewed_fraction") or 0.0)
    if frac < min_reviewed_fraction:
        failures.append(
            f"reviewed fraction {frac:.3f} ({stats.get('reviewed', 0)} of {stats.get('population', 0)}) "
            f"is under the minimum {min_reviewed_fraction:.3f}"
        )
    acc = stats.get("acceptance") or {}
    low = float(acc.get("low") or 0.0) if acc.get("n") else 0.0
    if low < acceptance_floor:
        failures.append(
            f"acceptance lower bound {low:.3f} (Wilson 95%, {acc.get('k', 0)}/{acc.get('n', 0)} accepted) "
            f"is under the floor {acceptance_floor:.3f}"
        )
    return {
        "passed": not failures,
        "forced": bool(force and failures),
        "failures": failures,
        "min_reviewed_fraction": min_reviewed_fraction,
        "acceptance_floor": acceptance_floor,
        "reviewed": stats.get("reviewed", 0),
        "population": stats.get("population", 0),
        "reviewed_fraction": frac,
        "acceptance": acc,
        "human": stats.get("human", 0),
        "automatic": stats.get("automatic", 0),
    }
