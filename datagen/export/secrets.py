"""A scan for secrets and personal data before export: API keys, private keys, emails, phone numbers.

Patterns run in order and a later pattern never matches inside an earlier match (an Anthropic key is not
also reported as an OpenAI key). Findings are reported with masked values only; ``redact`` replaces each
match with ``[REDACTED_<KIND>]``. This is a pattern scan: it finds the common formats, not every secret.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "private_key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)"
        ),
    ),
    ("anthropic_key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    ("openai_key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}")),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("huggingface_token", re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("stripe_key", re.compile(r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{20,}")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")),
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")),
    (
        "phone",
        re.compile(
            r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{3,4}[\s.-]\d{3,4}(?![\w-])"
        ),
    ),
]


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int
    value: str

    @property
    def masked(self) -> str:
        keep = 4 if len(self.value) > 12 else 1
        return self.value[:keep] + "…" + f"({len(self.value)} chars)"


def _plausible(kind: str, value: str) -> bool:
    if kind != "phone":
        return True
    digits = sum(c.isdigit() for c in value)
    return digits >= (8 if value.startswith("+") else 9) and digits <= 15


def scan_text(text: str) -> list[Finding]:
    """Non-overlapping findings in order of position."""
    taken: list[tuple[int, int]] = []
    out = []
    for kind, pat in PATTERNS:
        for m in pat.finditer(text):
            s, e = m.span()
            if any(s < te and ts < e for ts, te in taken) or not _plausible(kind, m.group()):
                continue
            taken.append((s, e))
            out.append(Finding(kind, s, e, m.group()))
    return sorted(out, key=lambda f: f.start)


def redact_text(text: str, findings: list[Finding] | None = None) -> str:
    findings = scan_text(text) if findings is None else findings
    for f in sorted(findings, key=lambda f: f.start, reverse=True):
        text = text[: f.start] + f"[REDACTED_{f.kind.upper()}]" + text[f.end :]
    return text


def scan_rows(rows: list[dict[str, Any]], fields: tuple[str, ...], id_key: str = "id") -> dict[str, Any]:
    """A report over many rows: counts by kind and field, affected record ids, masked examples."""
    by_kind: Counter[str] = Counter()
    by_field: Counter[str] = Counter()
    ids: set[Any] = set()
    examples: list[dict[str, Any]] = []
    for row in rows:
        for field in fields:
            for f in scan_text(str(row.get(field) or "")):
                by_kind[f.kind] += 1
                by_field[field] += 1
                ids.add(row.get(id_key))
                if len(examples) < 20:
                    examples.append(
                        {"record_id": row.get(id_key), "field": field, "kind": f.kind, "masked": f.masked}
                    )
    return {
        "findings": sum(by_kind.values()),
        "by_kind": dict(sorted(by_kind.items())),
        "by_field": dict(sorted(by_field.items())),
        "records": sorted(ids, key=str),
        "examples": examples,
    }
