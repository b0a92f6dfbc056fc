"""A judge checks itself before its win-rate counts: clear-cut pairs on the same items, both orders.

For every eval item the judge compares the item's **reference answer** with a **shuffled answer** — the
reference of another item (seeded), chosen so that the reference metrics call the pair clear-cut: its ROUGE-L
F1 with the item's reference is below ``CLEAR_CUT_ROUGE`` (the reference itself scores 1). Each pair is
judged twice, the reference shown as A and then as B. Two rates come out:

* **agreement** — the share of judgments that pick the reference, i.e. agree with the reference metrics
  (a judge that always answers "A" gets 0.5);
* **position consistency** — the share of pairs where both orders picked the same answer (an "always A"
  judge gets 0).

The judge is **usable** only when both reach their thresholds; otherwise its pairwise win-rate of tuned over
base is not computed, and the report says the judge is unusable and why.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

from datagen.rouge import rouge_l_f1
from finetune.judge import Judge

CLEAR_CUT_ROUGE = 0.3


@dataclass
class JudgeCheck:
    judge: str
    pairs: int
    agreement: float
    consistency: float
    position_a_share: float
    min_agreement: float
    min_consistency: float
    reasons: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.reasons

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "usable": self.usable}


def clear_cut_pairs(prompts: list[str], references: list[str], seed: int = 0) -> list[tuple[int, int]]:
    """(item, item whose reference is the shuffled answer) for every item that has a clear-cut partner."""
    rng = random.Random(seed)
    order = list(range(len(references)))
    rng.shuffle(order)
    pairs = []
    for i in range(len(references)):
        start = rng.randrange(len(order)) if order else 0
        for k in range(len(order)):
            j = order[(start + k) % len(order)]
            if prompts[j] != prompts[i] and rouge_l_f1(references[j], references[i]) < CLEAR_CUT_ROUGE:
                pairs.append((i, j))
                break
    return pairs


def check_judge_sanity(
    judge: Judge,
    prompts: list[str],
    references: list[str],
    min_agreement: float = 0.8,
    min_consistency: float = 0.75,
    seed: int = 0,
) -> JudgeCheck:
    """Run the sanity check (see the module docstring) on the eval items' prompts and references."""
    pairs = clear_cut_pairs(prompts, references, seed)
    first = judge.pick([(prompts[i], references[i], references[j]) for i, j in pairs])  # reference is A
    second = judge.pick([(prompts[i], references[j], references[i]) for i, j in pairs])  # reference is B
    picks_ref = [(p1.choice == "A", p2.choice == "B") for p1, p2 in zip(first, second, strict=True)]
    judged = [p.choice for p in (*first, *second) if p.choice in ("A", "B")]
    n = len(pairs)
    agreement = sum(a + b for a, b in picks_ref) / (2 * n) if n else 0.0
    consistent = sum(
        1
        for (a, b), p1, p2 in zip(picks_ref, first, second, strict=True)
        if p1.choice and p2.choice and a == b
    )
    check = JudgeCheck(
        judge=judge.name,
        pairs=n,
        agreement=agreement,
        consistency=consistent / n if n else 0.0,
        position_a_share=judged.count("A") / len(judged) if judged else 0.0,
        min_agreement=min_agreement,
        min_consistency=min_consistency,
    )
    if n == 0:
        check.reasons.append("no clear-cut pairs could be formed from the eval items")
    if check.agreement < min_agreement:
        check.reasons.append(
            f"it preferred the reference over a shuffled answer in {check.agreement:.0%} of judgments "
            f"(needs {min_agreement:.0%})"
        )
    if check.consistency < min_consistency:
        check.reasons.append(
            f"its choice survived swapping the positions in {check.consistency:.0%} of pairs "
            f"(needs {min_consistency:.0%}; it picked A in {check.position_a_share:.0%} of judgments)"
        )
    return check
