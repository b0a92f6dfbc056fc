"""Score histograms: counts for the summary, a few terminal lines, a PNG (matplotlib, Agg backend)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

BINS = 10
BAR = 30


def histogram(values: list[float], bins: int = BINS) -> dict[str, Any] | None:
    """Equal-width bins over the finite values (None when there is nothing to show)."""
    vals = sorted(v for v in values if math.isfinite(v))
    if not vals:
        return None
    lo, hi = vals[0], vals[-1]
    width = (hi - lo) / bins or 1.0 / bins
    counts = [0] * bins
    for v in vals:
        counts[min(int((v - lo) / width), bins - 1)] += 1
    return {
        "edges": [round(lo + i * width, 6) for i in range(bins + 1)],
        "counts": counts,
        "n": len(vals),
        "mean": round(sum(vals) / len(vals), 6),
        "median": round(vals[len(vals) // 2], 6),
    }


def render(name: str, hist: dict[str, Any] | None) -> str:
    if not hist:
        return f"{name}: no scores"
    top = max(hist["counts"]) or 1
    lines = [f"{name} (n={hist['n']}, mean={hist['mean']:.4g}, median={hist['median']:.4g})"]
    for i, c in enumerate(hist["counts"]):
        lo, hi = hist["edges"][i], hist["edges"][i + 1]
        lines.append(f"  {lo:>10.4g} – {hi:<10.4g} {'█' * round(BAR * c / top):<{BAR}} {c}")
    return "\n".join(lines)


def write_png(values: dict[str, list[float]], path: str | Path) -> str:
    """One panel per filter that produced scores; returns the path written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    named = {n: [v for v in vs if math.isfinite(v)] for n, vs in values.items()}
    named = {n: vs for n, vs in named.items() if vs}
    fig, axes = plt.subplots(max(1, len(named)), 1, figsize=(6, 2.2 * max(1, len(named))), squeeze=False)
    for ax, (n, vs) in zip(axes[:, 0], named.items(), strict=False):
        ax.hist(vs, bins=30)
        ax.set_title(n)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return str(out)
