"""Text normalisation and content hashes shared by import, generation and the exact-duplicate pass."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson


def normalize(text: str) -> str:
    """Lower-case and collapse whitespace: the identity used for exact duplicates."""
    return " ".join(text.split()).lower()


def join_fields(*parts: str) -> str:
    """Fields as one text, blank ones left out: what is embedded (dedup, dataset clusters) and judged."""
    return "\n\n".join(p for p in parts if p.strip())


def text_hash(text: str) -> str:
    """sha256 of the normalised text: says whether a stored embedding is of this text."""
    return hashlib.sha256(normalize(text).encode()).hexdigest()


# ASCII whitespace other than the space (what str.split() splits on): \t \n \v \f \r and \x1c-\x1f.
_ASCII_WS = bytes((9, 10, 11, 12, 13, 28, 29, 30, 31))


def content_hash(instruction: str, input: str = "", output: str = "") -> str:
    """sha256 of the normalised fields joined by NUL (a hot path: import hashes every line).

    Most text is ASCII with single spaces only, where normalising is just lower-casing: that is checked in C
    (isascii, a substring search, a byte deletion) before falling back to ``normalize``; both give the same bytes.
    """
    return normalized_sha256(f"{instruction.strip()}\0{input.strip()}\0{output.strip()}")


def normalized_sha256(joined: str) -> str:
    """sha256 of ``normalize(joined)`` for a text without leading or trailing whitespace (the fast path above)."""
    if joined.isascii() and "  " not in joined:
        raw = joined.encode()
        if len(raw.translate(None, _ASCII_WS)) == len(raw):
            return hashlib.sha256(raw.lower()).hexdigest()
    return hashlib.sha256(normalize(joined).encode()).hexdigest()


def stable_hash(*parts: Any) -> str:
    """sha256 of canonical JSON: for idempotency keys (``Record.uid``)."""
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()
