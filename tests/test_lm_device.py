"""Device and dtype selection with torch's CUDA and MPS availability faked at the boundary, and the record of
which models a run used (device and dtype), stored in the run's counters."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from datagen import lm
from datagen.errors import InputError
from datagen.lm import device as dev
from datagen.lm import usage


def fake_cuda(monkeypatch: pytest.MonkeyPatch, count: int = 1, bf16: bool = True) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def fake_mps(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)


def test_auto_takes_cuda_when_present_and_says_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake_cuda(monkeypatch, count=2)
    monkeypatch.setattr(dev, "_said", set())
    with caplog.at_level(logging.INFO, logger="datagen.lm.device"):
        assert lm.resolve_device("auto") == "cuda"
        assert lm.resolve_device("cuda:1") == "cuda:1"
    assert caplog.records == []
    with pytest.raises(
        InputError, match=r"device 'cuda:2': this machine has 2 CUDA device\(s\) \(cuda:0 to cuda:1\)"
    ):
        lm.resolve_device("cuda:2")


def test_auto_takes_mps_on_a_mac_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_mps(monkeypatch)
    assert lm.resolve_device("auto") == "mps"
    assert lm.resolve_dtype("auto", "mps") == "float16"


@pytest.mark.parametrize(
    ("bf16", "expected"), [(True, "bfloat16"), (False, "float16")]
)  # an A100/H100 computes in bf16; a V100 or T4 does not
def test_dtype_auto_on_cuda_is_bf16_where_the_card_has_it_else_fp16(
    monkeypatch: pytest.MonkeyPatch, bf16: bool, expected: str
) -> None:
    fake_cuda(monkeypatch, bf16=bf16)
    assert lm.resolve_dtype("auto", lm.resolve_device("auto")) == expected
    assert lm.resolve_dtype("auto", "cuda:0") == expected


@pytest.mark.parametrize(("avx512_bf16", "expected"), [(True, "bfloat16"), (False, "float32")])
def test_dtype_auto_on_the_cpu_follows_its_bf16_instructions(
    monkeypatch: pytest.MonkeyPatch, avx512_bf16: bool, expected: str
) -> None:
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: avx512_bf16)
    assert lm.resolve_dtype("auto", "cpu") == expected


def test_explicit_dtypes_are_kept_under_their_full_names() -> None:
    import torch

    assert [lm.resolve_dtype(n, "cuda") for n in ("fp32", "bf16", "fp16", "float32")] == [
        "float32",
        "bfloat16",
        "float16",
        "float32",
    ]
    assert lm.torch_dtype("bf16") is torch.bfloat16
    with pytest.raises(InputError, match="unknown dtype 'int4'"):
        lm.resolve_dtype("int4", "cpu")


def test_batch_for_sizes_an_unset_batch_to_the_device() -> None:
    assert [lm.batch_for(0, d, 4) for d in ("cpu", "cuda", "mps")] == [4, 32, 32]
    assert lm.batch_for(3, "cuda", 4) == 3  # a set batch size is kept everywhere


def test_the_embedder_goes_to_the_device_auto_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    from datagen import modelhub

    fake_cuda(monkeypatch)
    asked: list[tuple[str, str]] = []
    monkeypatch.setattr(modelhub, "_cached_embedder", lambda name, device: asked.append((name, device)))
    with usage.recording() as used:
        modelhub.load_embedder("all-minilm-l6-v2")
        modelhub.load_embedder("all-minilm-l6-v2", "cpu")
    assert asked == [("all-minilm-l6-v2", "cuda"), ("all-minilm-l6-v2", "cpu")]
    assert used == {"all-minilm-l6-v2": "cpu float32, cuda float32"}


def test_training_hardware_follows_the_device_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from finetune.config import TrainConfig
    from finetune.convert import Hardware, precision

    fake_cuda(monkeypatch, bf16=False)
    hw = Hardware.detect("auto")
    assert (hw.cuda, hw.bf16, hw.device) == (True, False, "cuda")
    assert precision(TrainConfig(dataset="d"), hw) == "fp16"  # a V100: fp16, not fp32
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: False)
    cpu = Hardware.detect("cpu")
    assert (cpu.cuda, cpu.device, precision(TrainConfig(dataset="d"), cpu)) == (False, "cpu", "fp32")
    with pytest.raises(InputError, match="CUDA_VISIBLE_DEVICES=N"):
        Hardware.detect("cuda:1")


def test_usage_recordings_nest_and_become_counters() -> None:
    usage.note("outside", "cpu", "float32")  # no recording open: nothing kept
    with usage.recording() as outer:
        usage.note("teacher", "cuda", "bfloat16")
        with usage.recording() as inner:
            usage.note("judge", "cpu", "float32")
            usage.merge({"judge": "cuda:1 float16"})  # what a Ray actor reported
        assert usage.noted() == outer
    assert inner == {"judge": "cpu float32, cuda:1 float16"}
    assert outer == {"teacher": "cuda bfloat16", "judge": "cpu float32, cuda:1 float16"}
    assert usage.counters(outer) == {
        "models": {"judge": "cpu float32, cuda:1 float16", "teacher": "cuda bfloat16"},
        "device": "cpu,cuda,cuda:1",
    }
    assert usage.counters({}) == {}


def test_a_run_stores_the_models_it_loaded_with_device_and_dtype(
    store: Any, tmp_path: Any, run_cli: Any
) -> None:
    from datagen.store.models import Run
    from datagen.store.runs import tracked_run
    from tests.finetune_tiny import make_tiny_model

    path = str(make_tiny_model(tmp_path / "tiny"))
    lm.load_causal_lm(path, "float32", "cpu")  # loaded (and cached) before the run: still counted in it
    with tracked_run(store, "filter", {}) as run:
        lm.load_causal_lm(path, "fp32", "cpu")
        lm.load_causal_lm(path, "bf16", "cpu")
    with store.session() as s:
        counters = s.get(Run, run.id).counters
    assert counters["models"] == {path: "cpu bfloat16, cpu float32"}
    assert counters["device"] == "cpu"
    listed = run_cli("runs").stdout.splitlines()
    assert listed[0].split()[5] == "device"
    assert listed[1].split()[:3] + listed[1].split()[6:7] == [str(run.id), "filter", "succeeded", "cpu"]


def fake_cpu_only(monkeypatch: pytest.MonkeyPatch, avx512_bf16: bool) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: avx512_bf16)


# (machine, dtype setting, device setting, the dtype a verdict's backend names)
BACKENDS = [
    ("cpu", "auto", "auto", "float32"),
    ("cpu", "auto", "cpu", "float32"),
    ("cpu-bf16", "auto", "auto", "bfloat16"),
    ("cpu-bf16", "auto", "cpu", "bfloat16"),
    ("cpu-bf16", "float32", "auto", "float32"),  # an explicit dtype is what runs, whatever the CPU has
    ("cpu", "fp32", "cpu", "float32"),  # aliases under their full names
    ("cpu", "bf16", "cpu", "bfloat16"),
    ("cuda-bf16", "auto", "auto", "bfloat16"),
    ("cuda-fp16", "auto", "auto", "float16"),
    ("cuda-fp16", "auto", "cpu", "float32"),  # auto follows the device used, not the machine's best
    ("cuda-fp16", "float32", "cuda", "float32"),
]


@pytest.mark.parametrize(("machine", "dtype", "device", "used"), BACKENDS)
def test_a_verdicts_backend_names_the_dtype_the_model_computes_in(
    monkeypatch: pytest.MonkeyPatch, machine: str, dtype: str, device: str, used: str
) -> None:
    from datagen.endpoint import ModelEndpoint
    from filters.adherence import AdherenceFilter, AdherenceSettings
    from filters.base import FilterScore
    from filters.perplexity import PerplexityFilter, PerplexitySettings

    fake_cpu_only(monkeypatch, avx512_bf16=machine == "cpu-bf16")
    if machine.startswith("cuda"):  # beside a CPU without bf16
        fake_cuda(monkeypatch, bf16=machine == "cuda-bf16")
    assert lm.dtype_used(dtype, device) == used == lm.resolve_dtype(dtype, lm.resolve_device(device))
    ppl = PerplexityFilter(PerplexitySettings(model="m", dtype=dtype, device=device))
    assert ppl.backend == f"m/{used}"
    assert ppl.decide(FilterScore(5.0, {})).details["backend"] == f"m/{used}"  # what the verdict stores
    int8 = PerplexityFilter(PerplexitySettings(model="m", dtype=dtype, device=device, quantize="int8"))
    assert int8.backend == f"m/{used}/int8"
    judge = ModelEndpoint(provider="local", model="m", dtype=dtype, device=device)
    assert AdherenceFilter(AdherenceSettings(judge=judge)).backend == f"local:m/{used}"


def test_an_explicit_dtype_names_itself_without_looking_for_the_device(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from filters.perplexity import PerplexityFilter, PerplexitySettings

    fake_cpu_only(monkeypatch, avx512_bf16=False)
    assert PerplexityFilter(PerplexitySettings(model="m", device="cuda")).backend == "m/float32"
    # auto follows the device, so that device must be there
    with pytest.raises(InputError, match="no CUDA device is available here"):
        _ = PerplexityFilter(PerplexitySettings(model="m", dtype="auto", device="cuda")).backend


def test_a_rerun_with_dtype_auto_reuses_the_verdicts_named_with_the_dtype_used(
    store: Any, tmp_path: Any, run_cli: Any
) -> None:
    import json

    from sqlalchemy import select

    from datagen.store.models import Verdict
    from tests.finetune_tiny import make_tiny_model

    model = make_tiny_model(tmp_path / "tiny")
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"instruction": f"Name {w}.", "output": f"It is {w}."}) + "\n"
                            for w in ("one", "two", "three")))  # fmt: skip
    assert run_cli("import", str(data), "--format", "jsonl").exit_code == 0
    argv = ["filter", "--all", "--filters", "perplexity", "--histogram-png", "", "--json",
            "--settings", f"perplexity={{model: {model}, dtype: auto, device: cpu, threshold: 1.0e9}}"]  # fmt: skip
    first, again = (json.loads(run_cli(*argv).stdout)["filters"]["perplexity"] for _ in range(2))
    backend = f"{model}/{lm.dtype_used('auto', 'cpu')}"  # bfloat16 or float32, as this CPU has it
    assert (first["scored"], first["reused"], first["backend"]) == (3, 0, backend)
    assert (again["scored"], again["reused"], again["backend"]) == (0, 3, backend)
    with store.session() as s:
        assert [v.details["backend"] for v in s.scalars(select(Verdict))] == [backend] * 3
