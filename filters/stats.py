"""What a filter run counts per filter: verdicts made and reused, pass/fail by reason, time, score values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from filters.base import FilterDecision
from filters.histogram import histogram


@dataclass
class FilterStats:
    version: str
    backend: str
    scored: int = 0
    reused: int = 0
    passed: int = 0
    failed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    shared: int = 0  # verdicts of this run made by its workers (filters.shared): not timed here
    values: list[float] = field(default_factory=list)

    def add(self, d: FilterDecision, value: float | None) -> None:
        """One verdict this run made."""
        self.scored += 1
        self.passed += d.passed
        if not d.passed:
            self.failed += 1
            self.reasons[d.reason] = self.reasons.get(d.reason, 0) + 1
        if value is not None:
            self.values.append(float(value))

    def summary(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "backend": self.backend,
            "scored": self.scored,
            "reused": self.reused,
            "passed": self.passed,
            "failed": self.failed,
            "failed_by_reason": dict(sorted(self.reasons.items())),
            "ms_per_record": round(1000 * self.seconds / timed, 3)
            if (timed := self.scored - self.shared)
            else None,
            "histogram": histogram(self.values),
        }
