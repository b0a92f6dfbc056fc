"""Text normalisation and content hashes shared by import, generation and the exact-duplicate pass."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson


def normalize(text: str) -> str:
    """Lower-case and collapse whitespace: the identity used for exact duplicates."""
    return " ".join(text.split()).lower()


def content_hash(instruction: str, input: str = "", output: str = "") -> str:
    """sha256 of the normalised fields joined by NUL (one split and one lower for the three: this is a hot path)."""
    joined = f"{instruction.strip()}\0{input.strip()}\0{output.strip()}"
    return hashlib.sha256(normalize(joined).encode()).hexdigest()


def stable_hash(*parts: Any) -> str:
    """sha256 of canonical JSON: for idempotency keys (``Record.uid``)."""
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()
