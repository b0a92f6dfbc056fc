"""Terminal rendering of review statistics (``datagen review stats``)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _ci(r: dict[str, Any]) -> str:
    return "-" if not r.get("n") else f"{_pct(r['rate'])} [{_pct(r['low'])}, {_pct(r['high'])}]"


def print_stats(st: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(highlight=False, soft_wrap=True)
    acc = st["acceptance"]
    console.print(
        f"reviewed {st['reviewed']} of {st['population']} kept records ({_pct(st['reviewed_fraction'])}); "
        f"human {st['human']}, automatic {st['automatic']}; reviewers: {', '.join(st['reviewers']) or '-'}"
    )
    console.print(
        f"acceptance (as is): {_ci(acc)} ({acc['k']}/{acc['n']}, Wilson 95%); "
        f"stratified by population: {_pct(st.get('acceptance_stratified'))}"
    )
    d = st["defect_rate_unreviewed"]
    if d.get("estimate") is not None:
        console.print(
            f"estimated defect rate of the {d['unreviewed']} unreviewed: {_pct(d['estimate'])} "
            f"[{_pct(d['low'])}, {_pct(d['high'])}] (about {d['expected_defects']} records)"
        )
    console.print(f"decisions: {st['decisions']}; reject reasons: {st['reject_reasons']}")
    sec = st["seconds"]
    if sec["n"]:
        console.print(f"time per human decision: median {sec['median']:.1f} s, total {sec['total']:.0f} s")
    t = Table("stratum", "population", "reviewed", "accepted", "acceptance [95% CI]", title="per stratum")
    for name, s in st["strata"].items():
        t.add_row(name, str(s["population"]), str(s["n"]), str(s["k"]), _ci(s))
    console.print(t)
    fs = st["filtered_slice"]
    if fs.get("n"):
        console.print(f"filtered-out slice: humans would keep {_ci(fs)} ({fs['k']}/{fs['n']})")
    if st["filters"]:
        t = Table("filter", "n", "prec keep", "rec keep", "prec drop", "rec drop", "current", "suggested",
                  title="filters vs human decisions")  # fmt: skip
        for name, f in st["filters"].items():
            t.add_row(
                name, str(f["n"]), _pct(f["precision_keep"]), _pct(f["recall_keep"]), _pct(f["precision_drop"]),
                _pct(f["recall_drop"]), str(f.get("current_threshold")),
                f"{f.get('suggested_threshold')} ({f.get('direction', '-')})",
            )  # fmt: skip
        console.print(t)
    for k in st["kappa"]:
        kappa = "undefined" if k["kappa"] is None else f"{k['kappa']:.3f}"
        console.print(
            f"Cohen's kappa {k['reviewers'][0]} vs {k['reviewers'][1]}: {kappa} on {k['n']} records "
            f"(raw agreement {_pct(k['agreement'])})"
        )
    _print_notes(console, st.get("notes", []))


def _print_notes(console: Console, notes: list[dict[str, Any]], most: int = 20) -> None:
    """Reviewers' notes, oldest first (at most ``most``; ``--json`` lists them all)."""
    if not notes:
        return
    console.print(f"reviewers' notes ({len(notes)}):")
    for n in notes[:most]:
        console.print(
            f"  record {n['record_id']} ({n['decision']}, {n['reviewer']}): {n['note']}", markup=False
        )
    if len(notes) > most:
        console.print(f"  … {len(notes) - most} more (--json lists them all)")
