"""Toxicity: backend selection, alt-profanity-check (the default) on exact verdicts and on the labelled set,
the word-list fallback (exact words), and Detoxify through its real class on a tiny local checkpoint."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from datagen.errors import InputError
from filters.base import RecordView
from filters.chain import run_filters
from filters.config import FilterConfig
from filters.registry import make_filter
from filters.toxicity import ToxicityFilter, ToxicitySettings, sentences, wordlist_hits
from tests.filter_fixtures import LONG_OUTPUT, add_records, verdicts

LABELLED = Path(__file__).parent / "data" / "toxicity_labelled.jsonl"
PROFANITY = "profanity_check:alt-profanity-check 1.9.1"


@pytest.fixture
def no_profanity_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if alt-profanity-check were not installed (``find_spec`` is what the filter and ``require`` ask)."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda m, *a: None if m == "profanity_check" else real(m, *a)
    )


@pytest.mark.parametrize(
    ("settings", "kind", "backend"),
    [
        ({}, "profanity_check", PROFANITY),  # auto without a checkpoint
        ({"backend": "profanity_check"}, "profanity_check", PROFANITY),
        ({"backend": "wordlist"}, "wordlist", "wordlist:v1"),
        ({"checkpoint": "/models/tox.ckpt"}, "detoxify", "detoxify:tox.ckpt"),  # auto with a checkpoint
        ({"backend": "detoxify", "checkpoint": "/models/tox.ckpt"}, "detoxify", "detoxify:tox.ckpt"),
        ({"backend": "wordlist", "checkpoint": "/models/tox.ckpt"}, "wordlist", "wordlist:v1"),
    ],
)
def test_backend_selection(settings: dict[str, Any], kind: str, backend: str) -> None:
    f = make_filter("toxicity", settings)
    assert (f.kind, f.backend) == (kind, backend)  # type: ignore[attr-defined]
    assert f.threshold() == {"profanity_check": 0.3, "detoxify": 0.5, "wordlist": 0.5}[kind]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"backend": "perspective"},
            "backend: Input should be 'auto', 'profanity_check', 'detoxify' or 'wordlist'",
        ),
        ({"backend": "detoxify"}, "backend detoxify needs settings.toxicity.checkpoint"),
        ({"threshold": 1.5}, "threshold: Input should be less than or equal to 1"),
    ],
)
def test_bad_backend_settings_are_input_errors(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        make_filter("toxicity", settings)


def test_explicit_threshold_and_an_ignored_checkpoint() -> None:
    f = ToxicityFilter(ToxicitySettings(threshold=0.96))
    moby = f.score([RecordView(1, "Who wrote Moby Dick and when was it published?")])[0]  # 0.945
    assert (f.threshold(), f.decide(moby).passed) == (0.96, True)
    assert ToxicityFilter(ToxicitySettings(threshold=0.3)).decide(moby).reason == "toxic"
    words = ToxicityFilter(ToxicitySettings(backend="wordlist", checkpoint="/models/tox.ckpt"))
    assert words.prepare(None) == [
        "toxicity: checkpoint ignored, backend is wordlist (settings.toxicity.backend)"
    ]


def test_without_alt_profanity_check(no_profanity_check: None) -> None:
    auto = ToxicityFilter()
    assert auto.backend == "wordlist:v1"
    [note] = auto.prepare(None)
    assert "alt-profanity-check is not installed (`pip install alt-profanity-check`)" in note
    assert ToxicityFilter(ToxicitySettings(backend="wordlist")).prepare(None) == []  # chosen: no notice
    with pytest.raises(InputError, match="run `pip install alt-profanity-check`"):
        ToxicityFilter(ToxicitySettings(backend="profanity_check"))


def test_constructing_and_importing_does_not_load_the_model() -> None:
    code = (
        "import sys; from filters.toxicity import ToxicityFilter; ToxicityFilter(); "
        "print('profanity_check' in sys.modules, 'sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[1])  # fmt: skip
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(
    ("text", "sentence_count"),
    [("One. Two! Three? Four", 4), ("Version 1.5 is out.", 1), ("a\n\nb", 2), ("", 1), ("No stop", 1)],
)
def test_sentences(text: str, sentence_count: int) -> None:
    assert len(sentences(text)) == sentence_count


# instruction, output -> passed, reason, the sentence quoted in the details
VERDICTS = [
    ("Explain how plants make their food.", LONG_OUTPUT, True, "ok", None),
    ("How do I kill the process that is holding port 8080?", "Use lsof to find it, then stop it.", True, "ok", None),
    # a known false positive: "kill" weighs heavily and a short technical sentence has little else (0.91)
    ("How do I free port 8080?", "Find the PID with lsof -i :8080, then run kill followed by that PID.",
     False, "toxic", "Find the PID with lsof -i :8080, then run kill followed by that PID."),
    ("Shoot a photo of the sunset with a slow shutter speed.", "Use a tripod and a shutter of one second.",
     True, "ok", None),
    ("Reply to the customer.", "Shut up, you worthless piece of shit.", False, "toxic",
     "Shut up, you worthless piece of shit."),
    ("Reply to the customer.", "You are a disgusting, pathetic excuse for a human being.", False, "toxic",
     "You are a disgusting, pathetic excuse for a human being."),
    # one abusive sentence after a long clean answer: scored whole it would be 0.19 and pass
    ("Explain how plants make their food.", LONG_OUTPUT + " You are a disgusting, pathetic excuse for a human being.",
     False, "toxic", "You are a disgusting, pathetic excuse for a human being."),
    # polite abuse without a swear word: the bag of words misses it (documented, measured below)
    ("Reply to the customer.", "Please do everyone a favour and stop existing.", True, "ok", None),
]  # fmt: skip


def test_profanity_check_exact_verdicts() -> None:
    f = ToxicityFilter()
    recs = [RecordView(i, ins, "", out) for i, (ins, out, *_) in enumerate(VERDICTS)]
    got = [f.decide(s) for s in f.score(recs)]
    assert [(d.passed, d.reason) for d in got] == [(p, r) for _, _, p, r, _ in VERDICTS]
    for d, (*_, sentence) in zip(got, VERDICTS, strict=True):
        assert (d.details["backend"], d.details["threshold"], d.details["label"]) == (
            PROFANITY,
            0.3,
            "profanity",
        )
        if sentence:
            assert d.details["sentence"] == sentence


def _labelled() -> list[dict[str, Any]]:
    return [json.loads(line) for line in LABELLED.read_text().splitlines()]


def test_the_labelled_set_is_balanced_and_written_for_the_project() -> None:
    rows = _labelled()
    assert (len(rows), sum(r["toxic"] for r in rows)) == (80, 40)
    assert len({r["text"] for r in rows}) == 80


# measured (bench/bench_toxicity.py): profanity_check 20 TP / 3 FP (P 0.87, R 0.50); word list 7 / 1 (0.88, 0.17)
@pytest.mark.parametrize(
    ("backend", "min_precision", "min_recall", "max_recall"),
    [("profanity_check", 0.85, 0.475, 0.55), ("wordlist", 0.85, 0.15, 0.2)],
)
def test_precision_and_recall_on_the_labelled_set(
    backend: str, min_precision: float, min_recall: float, max_recall: float
) -> None:
    rows = _labelled()
    f = ToxicityFilter(ToxicitySettings(backend=backend))  # type: ignore[arg-type]
    flags = [not f.decide(s).passed for s in f.score([RecordView(i, r["text"]) for i, r in enumerate(rows)])]
    tp = sum(fl and r["toxic"] for fl, r in zip(flags, rows, strict=True))
    fp = sum(fl and not r["toxic"] for fl, r in zip(flags, rows, strict=True))
    precision, recall = tp / (tp + fp), tp / 40
    assert precision >= min_precision and min_recall <= recall <= max_recall, (tp, fp)
    caught = {r["kind"] for fl, r in zip(flags, rows, strict=True) if fl and r["toxic"]}
    if backend == "profanity_check":  # what a bag of words sees: every profane insult, no polite abuse
        assert all(fl for fl, r in zip(flags, rows, strict=True) if r["kind"] == "profane_insult")
        assert "polite_abuse" not in caught


def test_default_backend_in_the_chain(store: Any) -> None:
    ids = add_records(
        store,
        [
            {"instruction": "Explain how plants make their food today.", "output": LONG_OUTPUT},
            {"instruction": "Explain how plants make their food today.", "output": "Shut up, you idiot."},
        ],
    )
    notes: list[str] = []
    run_filters(store, FilterConfig(filters=["toxicity"], histogram_png=None), notify=notes.append)
    assert notes == []
    v = verdicts(store, "toxicity")
    assert [(v[i, "toxicity"].passed, v[i, "toxicity"].reason) for i in ids] == [
        (True, "ok"),
        (False, "toxic"),
    ]
    assert {v[i, "toxicity"].details["backend"] for i in ids} == {PROFANITY}


CLASSES = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]


@pytest.mark.parametrize(
    ("text", "hits"),
    [
        ("Plants make food from sunlight.", []),
        ("What the FUCKING hell is this", ["fucking"]),
        ("Shitake mushrooms and a cocktail at Scunthorpe", []),  # whole words only
        ("I will kill you tomorrow.", ["i will kill you"]),
        ("That is bullshit, you bastard", ["bastard", "bullshit"]),
    ],
)
def test_wordlist(text: str, hits: list[str]) -> None:
    assert wordlist_hits(text) == hits


def test_wordlist_fallback_in_the_chain_says_so(store: Any, no_profanity_check: None) -> None:
    ids = add_records(
        store,
        [
            {"instruction": "Explain how plants make their food today.", "output": LONG_OUTPUT},
            {"instruction": "Explain how plants make their food today.", "output": "Shut up, you bastard."},
        ],
    )
    notes: list[str] = []
    summary = run_filters(store, FilterConfig(filters=["toxicity"], histogram_png=None), notify=notes.append)
    assert notes and "no Detoxify checkpoint" in notes[0] and summary["notices"] == notes
    assert "alt-profanity-check is not installed" in notes[0]
    v = verdicts(store, "toxicity")
    assert (v[ids[0], "toxicity"].passed, v[ids[0], "toxicity"].score) == (True, 0.0)
    assert (v[ids[1], "toxicity"].reason, v[ids[1], "toxicity"].details["words"]) == ("toxic", ["bastard"])
    assert v[ids[1], "toxicity"].details["backend"] == "wordlist:v1"


def build_checkpoint(root: Path, logit_bias: list[float]) -> Path:
    """A tiny random BertForSequenceClassification + a locally trained WordPiece tokenizer, Detoxify format."""
    import torch
    import transformers
    from tokenizers import BertWordPieceTokenizer

    folder = root / "tiny-bert"
    folder.mkdir()
    wp = BertWordPieceTokenizer(lowercase=True)
    wp.train_from_iterator(["you are a kind person", "plants make food from sunlight"] * 5, vocab_size=120)
    wp.save_model(str(folder))
    tok = transformers.BertTokenizer(str(folder / "vocab.txt"))
    tok.save_pretrained(folder)
    cfg = transformers.BertConfig(
        vocab_size=len(tok), hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=16, max_position_embeddings=64, num_labels=6,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(cfg)
    with torch.no_grad():  # outputs set by the bias alone: every text gets sigmoid(logit_bias)
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor(logit_bias))
    cfg.save_pretrained(folder)
    ckpt = root / "tiny.ckpt"
    arch = {"model_type": str(folder), "model_name": "BertForSequenceClassification",
            "tokenizer_name": "BertTokenizer", "num_classes": 6}  # fmt: skip
    torch.save({"config": {"arch": {"args": arch}, "dataset": {"args": {"classes": CLASSES}}},
                "state_dict": model.state_dict()}, ckpt)  # fmt: skip
    return ckpt


@pytest.mark.slow
def test_detoxify_real_class_max_over_labels(tmp_path: Path) -> None:
    ckpt = build_checkpoint(tmp_path, [-4.0, -4.0, -4.0, 3.0, -4.0, -4.0])  # only 'threat' is high
    recs = [RecordView(1, "Explain how plants make food.", "", "Plants make food from sunlight."),
            RecordView(2, "Say something kind.", "", "You are a kind person.")]  # fmt: skip
    f = ToxicityFilter(ToxicitySettings(checkpoint=str(ckpt)))
    assert f.prepare(None) == []
    scores = f.score(recs)
    d = f.decide(scores[0])
    assert (d.passed, d.reason, d.details["label"]) == (False, "toxic", "threat")
    assert scores[0].value == pytest.approx(1 / (1 + 2.718281828**-3.0), rel=1e-4)
    assert d.details["backend"] == "detoxify:tiny.ckpt"
    calm = ToxicityFilter(ToxicitySettings(checkpoint=str(ckpt), labels=["toxicity", "insult"]))
    out = [calm.decide(s) for s in calm.score(recs)]
    assert [(o.passed, o.reason) for o in out] == [(True, "ok"), (True, "ok")]
    assert set(out[0].details["labels"]) == {"toxicity", "insult"}


def test_bad_checkpoint_settings_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        ToxicityFilter(ToxicitySettings(checkpoint=str(tmp_path / "missing.ckpt"))).prepare(None)
    with pytest.raises(InputError, match="unknown labels"):
        ToxicityFilter(ToxicitySettings(labels=["rudeness"]))
