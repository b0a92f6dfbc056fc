"""What a Self-Instruct run counts as it goes, and the counters its run row keeps."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SelfInstructTally:
    steps: int = 0
    candidates: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    parse_failed: int = 0
    records: int = 0
    generated: int = 0  # records with status generated (one per kept instance)
    inserted: int = 0
    classification: int = 0
    classify_truncated: int = 0  # answers cut by the length limit twice: no decision
    instances_dropped: Counter[str] = field(default_factory=Counter)

    def counters(self, method: str, seeds: int) -> dict[str, Any]:
        t = self
        return {
            "method": method,
            "seeds": seeds,
            "steps": t.steps,
            "candidates": t.candidates,
            "instructions_accepted": t.accepted,
            "generated": t.generated,
            "rejected": dict(t.rejected),
            "parse_failed": t.parse_failed,
            "classification_tasks": t.classification,
            "classify_truncated": t.classify_truncated,
            "records": t.records,
            "records_inserted": t.inserted,
            "instances_dropped": dict(t.instances_dropped),
        }
