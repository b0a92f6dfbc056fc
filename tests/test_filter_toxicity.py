"""Toxicity: the word-list fallback (exact words) and Detoxify through its real class on a tiny local checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from datagen.errors import InputError
from filters.base import RecordView
from filters.chain import run_filters
from filters.config import FilterConfig
from filters.toxicity import ToxicityFilter, ToxicitySettings, wordlist_hits
from tests.filter_fixtures import LONG_OUTPUT, add_records, verdicts

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


def test_wordlist_fallback_in_the_chain_says_so(store: Any) -> None:
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
