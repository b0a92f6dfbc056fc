"""Deterministic, stratified split assignment of whole near-duplicate clusters.

Clusters are grouped by stratum (method/operation), ordered per stratum by a ``random.Random`` seeded from
(seed, stratum), and the strata are walked one after another; each cluster goes to the split furthest below
its target share of everything assigned so far. Walking stratum by stratum makes every stratum's share close
to 80/10/10 while small strata share the rotation instead of all landing in train. With ``prior`` (the splits
of the dataset's previous version) a cluster holding a record that already had a split keeps that split, so a
test item never moves into train when a dataset grows.
"""

from __future__ import annotations

import random


def assign_splits(
    clusters: dict[int, list[int]],
    stratum_of: dict[int, str],
    ratios: dict[str, float],
    seed: int,
    prior: dict[int, str] | None = None,
) -> dict[int, str]:
    """record id -> split name, every member of a cluster in the same split."""
    names = list(ratios)
    current = dict.fromkeys(names, 0)
    out: dict[int, str] = {}
    free: dict[str, list[list[int]]] = {}
    for _root, members in sorted(clusters.items()):
        old = [prior[m] for m in members if prior and m in prior and prior[m] in ratios]
        if old:
            split = old[0]  # the earliest member's split (members are sorted by id)
            for m in members:
                out[m] = split
            current[split] += len(members)
        else:
            free.setdefault(stratum_of[members[0]], []).append(members)
    total = sum(current.values())
    for stratum in sorted(free):
        order = free[stratum]
        random.Random(f"{seed}:{stratum}").shuffle(order)
        for members in order:
            size = len(members)
            split = max(names, key=lambda n: (ratios[n] * (total + size) - current[n], -names.index(n)))
            for m in members:
                out[m] = split
            current[split] += size
            total += size
    return out
