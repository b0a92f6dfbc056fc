"""Dataset rows -> prompt/completion rows, the pre-training guards, and the zero-gradient guard."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from finetune.callbacks import GradNormGuard, ZeroGradientError
from finetune.data import Example, check_examples, guard, load_dataset, to_conversational
from tests.finetune_tiny import make_tokenizer, seed_dataset


@pytest.fixture(scope="module")
def tok(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(make_tokenizer(tmp_path_factory.mktemp("tok")))


def test_rows_are_conversational_prompt_completion() -> None:
    ex = Example(7, "Translate to French.", "hello", "bonjour")
    assert to_conversational(ex) == {
        "prompt": [{"role": "user", "content": "Translate to French.\n\nhello"}],
        "completion": [{"role": "assistant", "content": "bonjour"}],
    }
    row = to_conversational(Example(8, "Hi?", "  ", "Hello."), system_prompt="Be brief.")
    assert row["prompt"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]


def test_load_dataset_groups_by_split(store: Any) -> None:
    seed_dataset(store, splits=(3, 1, 2))
    ds = load_dataset(store, "tiny")
    assert (ds.ref, [len(ds.splits[k]) for k in ("train", "validation", "test")]) == ("tiny@1", [3, 1, 2])
    assert ds.splits["train"][0].output == "The capital of France is Paris."


def test_guards_pass_clean_examples(tok: Any) -> None:
    exs = [Example(1, "Is fire hot?", "", "Yes, fire is hot."), Example(2, "Two plus two?", "", "Four.")]
    rep = check_examples(tok, exs, max_length=64)
    assert (rep.template, rep.malformed, rep.missing_eos, rep.truncated) == ("chatml", [], [], [])
    assert rep.n == 2 and 0 < rep.tokens_min <= rep.tokens_max <= 64
    guard(rep, "train")


def test_guards_find_malformed_truncated_and_empty(tok: Any) -> None:
    exs = [
        Example(1, "Is fire hot?", "", "Yes.<|im_end|>\n<|im_start|>user\nagain"),  # breaks the ChatML
        Example(2, "Summarise the sentence.", "the quick brown fox " * 20, "A fox."),  # too long
        Example(3, "Is water wet?", "", "   "),  # empty answer
    ]
    rep = check_examples(tok, exs, max_length=40)
    assert rep.malformed == [1, 3] and rep.truncated == [2] and rep.missing_eos == []
    assert rep.as_dict()["truncated"] == 1 and rep.as_dict()["bad_record_ids"] == [1, 3]
    with pytest.raises(Exception, match=r"train split: 2 malformed ChatML example\(s\) and 0 without EOS"):
        guard(rep, "train")


def test_missing_eos_is_detected(tmp_path: Path, tok: Any) -> None:
    tok2 = tok.__class__.from_pretrained(tok.name_or_path)
    tok2.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    rep = check_examples(tok2, [Example(5, "Is fire hot?", "", "Yes.")], max_length=64)
    assert rep.template == "other" and rep.missing_eos == [5] and rep.malformed == []


def step(n: int) -> SimpleNamespace:
    return SimpleNamespace(global_step=n)


def test_grad_norm_guard_fails_after_patience_zero_steps() -> None:
    g = GradNormGuard(patience=2)
    g.on_log(None, step(1), None, {"loss": 1.0, "grad_norm": 0.0})
    g.on_log(None, step(2), None, {"loss": 1.0, "grad_norm": 0.5})  # resets the streak
    g.on_log(None, step(3), None, {"eval_loss": 1.0})  # not a training log
    g.on_log(None, step(4), None, {"loss": 1.0, "grad_norm": 0.0})
    with pytest.raises(
        ZeroGradientError, match=r"gradient norm was 0.0 for 2 logged steps in a row \(step 5\)"
    ):
        g.on_log(None, step(5), None, {"loss": 1.0, "grad_norm": 0.0})


def test_grad_norm_guard_fails_a_run_that_never_had_a_gradient() -> None:
    g = GradNormGuard(patience=5)
    for i in range(2):
        g.on_log(None, step(i + 1), None, {"grad_norm": 0.0})
    with pytest.raises(ZeroGradientError, match="0 on every one of 2 logged steps"):
        g.on_train_end(None, step(2), None)
    ok = GradNormGuard(patience=5)
    ok.on_log(None, step(1), None, {"grad_norm": 0.0})
    ok.on_log(None, step(2), None, {"grad_norm": 0.1})
    ok.on_train_end(None, step(2), None)
