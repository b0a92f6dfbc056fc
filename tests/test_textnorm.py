"""Content hashes: the fast ASCII path must give exactly what normalising first gives."""

from __future__ import annotations

import hashlib
import random

import pytest

from datagen.textnorm import content_hash, normalize


def reference(instruction: str, input: str = "", output: str = "") -> str:
    joined = f"{instruction.strip()}\0{input.strip()}\0{output.strip()}"
    return hashlib.sha256(normalize(joined).encode()).hexdigest()


@pytest.mark.parametrize(
    "fields",
    [
        ("Write a poem", "", "Roses are red"),
        ("  Write a poem ", " ", "Roses are red\n"),
        ("Write  a poem", "", "Roses\tare\r\nred"),
        ("WRITE A POEM", "", "ROSES ARE RED"),
        ("Write\x0ba\x0cpoem", "\x1c", "x\x1dy\x1ez\x1fw"),
        ("Écris un poème", "", "Les roses sont rouges"),
        ("Write a poem", "", "nbsp\u00a0here and\u2003em space"),
        ("a\0b", "", ""),
        ("", "", ""),
    ],
)
def test_content_hash_equals_normalised_hash(fields: tuple[str, str, str]) -> None:
    assert content_hash(*fields) == reference(*fields)


def test_content_hash_ignores_case_and_spacing() -> None:
    assert content_hash("Write a poem", "", "Roses") == content_hash(" write\n a  POEM", "", "roses ")
    assert content_hash("Write a poem", "", "Roses") != content_hash("Write a poem", "Roses", "")


def test_content_hash_random_ascii_and_unicode_text_matches_reference() -> None:
    rng = random.Random(7)
    every = [chr(i) for i in range(128)] + ["é", "\u00a0", "\u2028", "\u3000", "ß", "İ"]
    plain = list("abcXYZ019.,:") + [" "] * 3  # mostly the fast path
    for k in range(4000):
        alphabet = every if k % 2 else plain
        fields = ["".join(rng.choices(alphabet, k=rng.randint(0, 40))) for _ in range(3)]
        assert content_hash(*fields) == reference(*fields), fields
