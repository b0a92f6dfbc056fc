"""Text normalisation and content hashes shared by import, generation and the exact-duplicate pass."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

_WS = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lower-case and collapse whitespace: the identity used for exact duplicates."""
    return _WS.sub(" ", text).strip().lower()


def content_hash(instruction: str, input: str = "", output: str = "") -> str:
    joined = "\x1f".join(normalize(t) for t in (instruction, input, output))
    return hashlib.sha256(joined.encode()).hexdigest()


def stable_hash(*parts: Any) -> str:
    """sha256 of canonical JSON: for idempotency keys (``Record.uid``)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
