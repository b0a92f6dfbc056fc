"""The local-model layer on a tiny random Llama: devices, padding, log-likelihoods, next-token probabilities,
generation. Each batched result is checked against a plain, unbatched forward of the same model."""

from __future__ import annotations

import logging
import math
from typing import Any

import pytest

from datagen import lm
from datagen.errors import InputError
from datagen.providers.base import SamplingParams


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    from tests.finetune_tiny import make_tiny_model

    path = make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
    return lm.load_causal_lm(str(path), "float32", "cpu")


def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_auto_falls_back_to_the_cpu_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from datagen.lm import device as load

    no_gpu(monkeypatch)
    monkeypatch.setattr(load, "_said", set())
    with caplog.at_level(logging.INFO, logger="datagen.lm.device"):
        assert lm.resolve_device("auto") == "cpu"
        assert lm.resolve_device("auto") == "cpu"  # said once per process, not per model or batch
        assert lm.resolve_device("cpu") == "cpu"  # asking for the CPU is not a fallback
    assert [r.getMessage() for r in caplog.records] == [
        "device auto: no CUDA or MPS device found, running on the CPU"
    ]


@pytest.mark.parametrize("bad", ["gpu", "cuda:", "cuda:x", "CPU", "cuda0", ""])
def test_an_invalid_device_names_the_valid_forms(bad: str) -> None:
    with pytest.raises(InputError, match=r"use auto, cpu, cuda, cuda:N or mps"):
        lm.resolve_device(bad)


@pytest.mark.parametrize("device", ["cuda", "cuda:1", "mps"])
def test_a_device_that_is_not_there_is_an_input_error(monkeypatch: pytest.MonkeyPatch, device: str) -> None:
    no_gpu(monkeypatch)
    with pytest.raises(InputError, match=r"no .* device is available here"):
        lm.resolve_device(device)


def test_configs_refuse_unknown_dtypes_and_devices_when_read() -> None:
    from datagen.endpoint import ModelEndpoint

    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        ModelEndpoint(device="gpu")
    with pytest.raises(ValueError, match="unknown dtype 'float8'"):
        ModelEndpoint(dtype="float8")
    assert ModelEndpoint(device="cuda:1", dtype="bf16").device == "cuda:1"


def test_the_model_is_cached_per_name_dtype_and_device(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    path = model.name_or_path
    assert lm.load_causal_lm(path, "float32", "cpu")[0] is model
    assert not model.training and tok.pad_token is not None


def test_padding_by_hand_leaves_the_tokenizer_alone(tiny: tuple[Any, Any]) -> None:
    _, tok = tiny
    before = tok.padding_side
    seqs = [[5, 6, 7], [8]]
    ids, mask = lm.pad_batch(seqs, 0, "left")
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    ids, mask = lm.pad_batch(seqs, 0, "right")
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    prompts = [lm.chat_ids(tok, [{"role": "user", "content": q}]) for q in ("Is water wet?", "Name one.")]
    lm.generate(*tiny, prompts, [SamplingParams(temperature=0.0, max_tokens=2)] * 2)
    lm.next_token_probs(tiny[0], prompts, lm.pad_id(tok), [1, 2])
    assert tok.padding_side == before


def _examples(tok: Any) -> list[tuple[list[int], int]]:
    """Chat prompts + answers sharing the template's prefix (so the KV-cache path runs), answers scored."""
    out = []
    for q, a in [
        ("What is the capital of France?", "The capital of France is Paris."),
        ("Is fire hot?", "Yes, fire is hot."),
        ("Two plus two equals what?", "Two plus two equals four, the number four."),
        ("Translate to French.", "bonjour"),
    ]:
        prompt = lm.chat_ids(
            tok, [{"role": "system", "content": "Answer short."}, {"role": "user", "content": q}]
        )
        out.append((prompt + tok(a, add_special_tokens=False)["input_ids"], len(prompt)))
    out.append((tok("the quick brown fox", add_special_tokens=False)["input_ids"], 0))  # no shared prefix
    return out


def _direct_nll(model: Any, ids: list[int], start: int) -> tuple[float, int]:
    import torch

    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), -1)
    picked = [-float(logp[i - 1, ids[i]]) for i in range(max(start, 1), len(ids))]
    return sum(picked), len(picked)


def test_batched_log_likelihood_equals_one_example_at_a_time(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    examples = _examples(tok)
    batched = lm.token_nll(model, examples, lm.pad_id(tok), batch_size=4)
    for (nll, n), (ids, start) in zip(batched, examples, strict=True):
        ref_nll, ref_n = _direct_nll(model, ids, start)
        assert n == ref_n and nll == pytest.approx(ref_nll, rel=1e-4)
        assert lm.token_nll(model, [(ids, start)], lm.pad_id(tok), batch_size=1)[0][0] == pytest.approx(
            nll, rel=1e-4
        )
    ppl = lm.perplexities(model, examples, lm.pad_id(tok), batch_size=2)
    assert ppl == pytest.approx([math.exp(s / n) for s, n in batched], rel=1e-4)
    assert math.isnan(lm.perplexities(model, [([5, 6], 2)], lm.pad_id(tok))[0])  # nothing scored


def test_next_token_probabilities_match_a_direct_forward(tiny: tuple[Any, Any]) -> None:
    import torch

    model, tok = tiny
    seqs = [ids for ids, _ in _examples(tok)]
    wanted = [tok.convert_tokens_to_ids(t) for t in ("A", "B", "yes")] + [tok.eos_token_id]
    probs = lm.next_token_probs(model, seqs, lm.pad_id(tok), wanted, batch_size=3)
    everything = lm.next_token_probs(model, seqs[:2], lm.pad_id(tok), list(range(len(tok))), batch_size=2)
    for p, ids in zip(probs, seqs, strict=True):
        with torch.no_grad():
            direct = torch.softmax(model(input_ids=torch.tensor([ids])).logits[0, -1].float(), -1)
        assert p == pytest.approx(direct[wanted].tolist(), rel=1e-4, abs=1e-7)
        assert 0.0 <= sum(p) <= 1.0
    assert [sum(p) for p in everything] == pytest.approx([1.0, 1.0], abs=1e-4)


def test_generation_is_per_row_and_independent_of_the_batch(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    prompts = [lm.chat_ids(tok, [{"role": "user", "content": q}]) for q in ("Is water wet?", "Name the sky.")]
    sampled = SamplingParams(temperature=1.0, top_p=0.9, max_tokens=5)
    greedy = SamplingParams(temperature=0.0, max_tokens=3, stop=None)
    together = lm.generate(model, tok, prompts, [sampled, greedy], seeds=[7, 0])
    alone = [
        lm.generate(model, tok, [p], [sp], seeds=[s])[0]
        for p, sp, s in zip(prompts, [sampled, greedy], [7, 0], strict=True)
    ]
    assert [g.ids for g in together] == [g.ids for g in alone]
    assert together[1].finish_reason == "length" and len(together[1].ids) == 3
    assert together[0].prompt_tokens == len(prompts[0]) and len(together[0].ids) <= 5
    assert (
        lm.generate(model, tok, prompts, [sampled] * 2, seeds=[7, 7], batch_size=1)[0].ids == together[0].ids
    )


def test_generation_shows_the_token_it_is_decoding(
    tiny: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from datagen import progress

    model, tok = tiny
    prompts = [lm.chat_ids(tok, [{"role": "user", "content": "Name the sky."}])] * 2
    seen: list[Any] = []
    with progress.stage("generate") as st:
        monkeypatch.setattr(st, "note", lambda **f: seen.append(f["decoding"]))
        lm.generate(model, tok, prompts, [SamplingParams(temperature=0.0, max_tokens=3, stop=None)] * 2)
    assert seen[:3] == ["2 rows, token 1/4", "2 rows, token 2/4", "2 rows, token 3/4"] and seen[-1] is None
