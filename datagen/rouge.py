"""Fast ROUGE-L F1 and the Self-Instruct novelty index.

Decisions are identical to ``rouge_score.rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)``:

* the same tokenizer (lower-case, every run of characters outside ``[a-z0-9]`` is a separator, empty tokens
  dropped), applied once per instruction instead of once per pair;
* the same LCS length, computed for one query against the whole pool at once with the bit-parallel LCS
  recurrence (Allison-Dix / Hyyrö): each pool instruction is a bit-vector over its token positions, and for
  each query token ``V <- (V + (V & M)) | (V & ~M)`` runs as a handful of numpy ``uint64`` operations over all
  pool entries; the LCS is the number of zero bits of ``V`` below the entry's length;
* the same float arithmetic for precision, recall and F1, in the same order, so scores agree bit for bit.

No prefilter is used, so no decision can differ; query tokens that occur in no pool instruction are skipped
(they cannot change ``V``). Entries of up to 64 tokens share one bucket of single ``uint64`` words; longer ones
share a second bucket padded to the widest entry's number of words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_SPACES = re.compile(r"\s+")
_VALID = re.compile(r"^[a-z0-9]+$")
_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
THRESHOLD = 0.7  # Self-Instruct: reject when ROUGE-L F1 > 0.7 against any existing instruction


def tokenize(text: str) -> list[str]:
    """rouge_score's default tokenizer without stemming (``rouge_score.tokenize.tokenize(text, None)``)."""
    tokens = _SPACES.split(_NON_ALNUM.sub(" ", text.lower()))
    return [t for t in tokens if _VALID.match(t)]


def f1_from_lcs(lcs: int, len_target: int, len_prediction: int) -> float:
    """rouge_score's ``_score_lcs`` F-measure from an LCS length (same operations, same rounding)."""
    if not len_target or not len_prediction:
        return 0.0
    precision = lcs / len_prediction
    recall = lcs / len_target
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def lcs_length(a: list[str], b: list[str]) -> int:
    """Plain bit-parallel LCS of two token lists (Python integers; for single pairs and tests)."""
    if not a or not b:
        return 0
    masks: dict[str, int] = {}
    for i, tok in enumerate(a):
        masks[tok] = masks.get(tok, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for tok in b:
        m = masks.get(tok)
        if m:
            u = v & m
            v = ((v + u) | (v - u)) & full
    return len(a) - bin(v).count("1")


def rouge_l_f1(a: str, b: str) -> float:
    """ROUGE-L F1 of two texts (symmetric)."""
    ta, tb = tokenize(a), tokenize(b)
    return f1_from_lcs(lcs_length(ta, tb), len(ta), len(tb))


class _Growable:
    """A numpy array with amortised O(1) appends along axis 0."""

    def __init__(self, shape_tail: tuple[int, ...], dtype: type) -> None:
        self._data: np.ndarray
        self._data = np.zeros((8, *shape_tail), dtype=dtype)
        self.n = 0

    def append(self, row: object) -> None:
        if self.n == len(self._data):
            grown = np.zeros((2 * len(self._data), *self._data.shape[1:]), dtype=self._data.dtype)
            grown[: self.n] = self._data[: self.n]
            self._data = grown
        self._data[self.n] = row
        self.n += 1

    @property
    def view(self) -> np.ndarray:
        return self._data[: self.n]


@dataclass
class _Bucket:
    """Pool entries whose token count needs ``words`` 64-bit words."""

    words: int
    ids: _Growable = field(init=False)  # position in the index
    lengths: _Growable = field(init=False)
    postings: dict[int, tuple[_Growable, _Growable]] = field(default_factory=dict)  # token -> (rows, masks)

    def __post_init__(self) -> None:
        self.ids = _Growable((), np.int64)
        self.lengths = _Growable((), np.int64)
        self.low = _Growable((self.words,), np.uint64)  # bit i set for every token position i < length

    def add(self, pos: int, token_ids: list[int]) -> None:
        row = self.ids.n
        self.ids.append(pos)
        self.lengths.append(len(token_ids))
        low = [0] * self.words
        for i in range(len(token_ids)):
            low[i >> 6] |= 1 << (i & 63)
        self.low.append(np.array(low, dtype=np.uint64))
        masks: dict[int, list[int]] = {}
        for i, t in enumerate(token_ids):
            m = masks.setdefault(t, [0] * self.words)
            m[i >> 6] |= 1 << (i & 63)
        for t, m in masks.items():
            rows, ms = self.postings.setdefault(
                t, (_Growable((), np.int64), _Growable((self.words,), np.uint64))
            )
            rows.append(row)
            ms.append(np.array(m, dtype=np.uint64))

    def lcs(self, query: list[int]) -> np.ndarray:
        """LCS length of ``query`` against every entry of this bucket."""
        n, w = self.ids.n, self.words
        distinct = [t for t in dict.fromkeys(query) if t in self.postings]
        slot = {t: k for k, t in enumerate(distinct)}
        # One scatter for every distinct query token: row k of ``dense`` is token k's match mask
        # (word-major for multi-word entries, so that each word is a contiguous row).
        shape = (len(distinct), n) if w == 1 else (len(distinct), w, n)
        dense: np.ndarray = np.zeros(shape, dtype=np.uint64)
        if distinct:
            postings = [self.postings[t] for t in distinct]
            which: np.ndarray = np.repeat(np.arange(len(distinct)), [p[0].n for p in postings])
            rows = np.concatenate([p[0].view for p in postings])
            masks = np.concatenate([p[1].view for p in postings])
            if w == 1:
                dense[which, rows] = masks[:, 0]
            else:
                dense[which, :, rows] = masks
        steps = [dense[slot[t]] for t in query if t in slot]
        if w == 1:
            v: np.ndarray = np.full(n, _ONES, dtype=np.uint64)
            u = np.empty_like(v)
            x = np.empty_like(v)
            for m in steps:  # V <- (V + U) | (V ^ U) with U = V & M (U is a subset of V, so V - U = V ^ U)
                np.bitwise_and(v, m, out=u)
                np.bitwise_xor(v, u, out=x)
                np.add(v, u, out=v)
                np.bitwise_or(v, x, out=v)
        else:
            v2: np.ndarray = np.full((w, n), _ONES, dtype=np.uint64)
            u2 = np.empty_like(v2)
            x2 = np.empty_like(v2)
            carry: np.ndarray = np.empty(n, dtype=bool)
            c2: np.ndarray = np.empty(n, dtype=bool)
            for m in steps:
                np.bitwise_and(v2, m, out=u2)
                np.bitwise_xor(v2, u2, out=x2)
                # Multi-word V + U (word 0 least significant): a word overflowed iff its sum is below the addend.
                np.add(v2[0], u2[0], out=v2[0])
                np.less(v2[0], u2[0], out=carry)
                for j in range(1, w):
                    np.add(v2[j], u2[j], out=v2[j])
                    if j == w - 1:  # the carry out of the top word is discarded
                        np.add(v2[j], carry, out=v2[j], casting="unsafe")
                        break
                    np.less(v2[j], u2[j], out=c2)
                    np.add(v2[j], carry, out=v2[j], casting="unsafe")
                    np.logical_or(c2, np.logical_and(carry, v2[j] == 0), out=carry)
                np.bitwise_or(v2, x2, out=v2)
            v = v2.T
        lengths = self.lengths.view
        if w == 1:
            return lengths - np.bitwise_count(v & self.low.view[:, 0]).astype(np.int64)
        return lengths - np.bitwise_count(v & self.low.view).sum(axis=1).astype(np.int64)


@dataclass
class Similar:
    key: str
    text: str
    score: float


class NoveltyIndex:
    """Every instruction accepted so far; ``check`` scores a new one against all of them at once."""

    def __init__(self, threshold: float = THRESHOLD, top_k: int = 10) -> None:
        self.threshold = threshold
        self.top_k = top_k
        self._vocab: dict[str, int] = {}
        self._keys: list[str] = []
        self._texts: list[str] = []
        # Two buckets: 1 = entries of up to 64 tokens (one word); 2 = all longer ones, padded to the widest
        # (one set of numpy calls per query step instead of one per width).
        self._buckets: dict[int, _Bucket] = {}
        self._long: dict[int, list[int]] = {}  # position -> token ids of the entries over 64 tokens

    def __len__(self) -> int:
        return len(self._keys)

    def _ids(self, tokens: list[str], grow: bool) -> list[int]:
        if grow:
            return [self._vocab.setdefault(t, len(self._vocab)) for t in tokens]
        return [self._vocab.get(t, -1) for t in tokens]

    def add(self, key: str, text: str) -> None:
        """Add an accepted (or seed) instruction to the pool."""
        ids = self._ids(tokenize(text), grow=True)
        pos = len(self._keys)
        self._keys.append(key)
        self._texts.append(text)
        if not ids:
            return
        words = (len(ids) + 63) // 64
        if words == 1:
            self._buckets.setdefault(1, _Bucket(1)).add(pos, ids)
            return
        self._long[pos] = ids
        multi = self._buckets.get(2)
        if multi is None or multi.words < words:  # widen: rebuild the one multi-word bucket (rare)
            multi = self._buckets[2] = _Bucket(words)
            for p, t in self._long.items():
                multi.add(p, t)
        else:
            multi.add(pos, ids)

    def scores(self, text: str) -> np.ndarray:
        """ROUGE-L F1 of ``text`` against every pool entry, in insertion order."""
        query = self._ids(tokenize(text), grow=False)
        out: np.ndarray = np.zeros(len(self._keys), dtype=np.float64)
        if not query:
            return out
        known = [t for t in query if t >= 0]
        for bucket in self._buckets.values():  # a bucket exists only once it holds an entry
            lcs: np.ndarray = bucket.lcs(known).astype(np.float64)
            lengths: np.ndarray = bucket.lengths.view.astype(np.float64)
            precision = lcs / lengths  # prediction = pool entry (Self-Instruct's argument order)
            recall = lcs / float(len(query))
            denom = precision + recall
            with np.errstate(invalid="ignore", divide="ignore"):
                f1 = np.where(denom > 0, 2 * precision * recall / denom, 0.0)
            out[bucket.ids.view] = f1
        return out

    def check(self, text: str) -> tuple[float, list[Similar]]:
        """(max score, the ``top_k`` most similar pool entries, best first). Novel iff max <= threshold."""
        best, _, top = self.compare(text)
        return best, top

    def compare(self, text: str) -> tuple[float, float, list[Similar]]:
        """``check`` plus the mean score over the whole pool (Self-Instruct's ``avg_similarity_score``)."""
        s = self.scores(text)
        if not len(s):
            return 0.0, 0.0, []
        k = min(self.top_k, len(s))
        top = np.argpartition(-s, k - 1)[:k] if k < len(s) else np.arange(len(s))
        top = top[np.lexsort((top, -s[top]))]
        similar = [Similar(self._keys[i], self._texts[i], float(s[i])) for i in top]
        return float(s.max()), float(s.mean()), similar

    def is_novel(self, max_score: float) -> bool:
        return not max_score > self.threshold
