"""Loading causal LMs and their tokenizers, and the device and dtype settings they load with.

This is the only product module that calls ``from_pretrained`` on a causal LM, a PEFT adapter or a causal
LM's tokenizer; ``datagen.modelhub`` says *where* a model comes from (aliases, the cache folder, checks).

* ``load_causal_lm``: (model, tokenizer) in eval mode for inference, cached per process per
  (name, dtype, device): the perplexity filter, the adherence judge and the local teacher share one copy.
  Never train or modify the object it returns.
* ``load_model`` / ``load_adapter``: fresh, uncached copies (training, merging, scoring an adapter).
* ``load_gguf``: a GGUF file dequantized to plain float32 weights, ready for ``save_pretrained``.

Devices: ``auto`` takes CUDA when present, else Apple's MPS, else the CPU (said once per process, through
``logging`` at INFO level); ``cpu``, ``cuda``, ``cuda:N`` and ``mps`` ask for that device and fail with an InputError when it is
not there.
"""

from __future__ import annotations

import logging
import re
from functools import cache
from pathlib import Path
from typing import Any

from datagen import modelhub
from datagen.errors import InputError

log = logging.getLogger(__name__)

DEVICES = "auto, cpu, cuda, cuda:N or mps"
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?|mps")
DTYPES = ("float32", "fp32", "bfloat16", "bf16", "float16", "fp16", "auto")
_said: set[str] = set()  # messages logged once per process


def check_device(device: str) -> str:
    """The device setting when it is well formed (no torch needed); an InputError naming the valid forms."""
    if not _DEVICE.fullmatch(device):
        raise InputError(f"unknown device {device!r}: use {DEVICES}")
    return device


def check_dtype(name: str) -> str:
    """The dtype setting when it is known (no torch needed)."""
    if name not in DTYPES:
        raise InputError(f"unknown dtype {name!r}: use float32, bfloat16, float16 or auto")
    return name


def _mps_available() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device: str = "auto") -> str:
    """The torch device a setting means here: ``auto`` picks CUDA, then MPS, then the CPU."""
    import torch

    check_device(device)
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if _mps_available():
            return "mps"
        _once("device auto: no CUDA or MPS device found, running on the CPU")
        return "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"device {device!r}: no CUDA device is available here (use cpu or auto)")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise InputError(
                f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})"
            )
    if device == "mps" and not _mps_available():
        raise InputError("device 'mps': no MPS device is available here (use cpu or auto)")
    return device


def _once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        log.info(message)


def torch_dtype(name: str) -> Any:
    """The torch dtype of a setting; ``auto`` is bfloat16 where the hardware computes in it, else float32."""
    import torch

    check_dtype(name)
    if name == "auto":
        return torch.bfloat16 if has_bf16() else torch.float32
    return {
        "float32": torch.float32,
        "fp32": torch.float32,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float16": torch.float16,
        "fp16": torch.float16,
    }[name]


def has_bf16() -> bool:
    """bf16 arithmetic in hardware: a CUDA device that supports it, or a CPU with AVX-512 bf16."""
    import torch

    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    try:
        return "avx512_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def load_causal_lm(
    name: str = modelhub.SMOLLM2, dtype: str = "float32", device: str = "auto"
) -> tuple[Any, Any]:
    """(model, tokenizer) in eval mode on ``device``, cached per process per (name, dtype, device).

    Never train the object this returns: it is shared by every caller in the process.
    """
    return _cached_causal_lm(name, check_dtype(dtype), resolve_device(device))


@cache
def _cached_causal_lm(name: str, dtype: str, device: str) -> tuple[Any, Any]:
    path = modelhub.resolve(name)
    try:
        tok = load_tokenizer(path)
    except OSError as e:
        raise InputError(f"cannot load model {name!r} ({path}): {e}") from e
    model = load_model(path, dtype, name=name)
    if device != "cpu":
        model.to(device)
    model.eval()
    return model, tok


def load_tokenizer(name: str) -> Any:
    """A fresh tokenizer for a model name or folder, with a pad token (EOS where the model has none)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(modelhub.resolve(name))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(
    path: str,
    dtype: Any = "float32",
    *,
    name: str | None = None,
    what: str = "model",
    quantization_config: Any = None,
    device_map: Any = None,
) -> Any:
    """A fresh causal LM from a folder or hub id (never the cached one): for training, merging and scoring.

    ``dtype`` is a setting (``float32``, ``bf16``, ...) or a torch dtype; ``quantization_config`` and
    ``device_map`` go to ``from_pretrained`` (QLoRA's 4-bit load). An unloadable folder is an InputError
    naming ``what`` and ``name``.
    """
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": torch_dtype(dtype) if isinstance(dtype, str) else dtype}
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        return AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as e:
        raise InputError(f"cannot load {what} {name or path!r} ({path}): {e}") from e


def load_adapter(model: Any, adapter_dir: str | Path) -> Any:
    """``model`` with a trained PEFT adapter on top (not merged), in eval mode."""
    from peft import PeftModel

    tuned = PeftModel.from_pretrained(model, str(adapter_dir))
    tuned.eval()
    return tuned


def load_gguf(gguf: Path) -> tuple[Any, Any]:
    """(model, tokenizer) from a GGUF file, dequantized by transformers to plain float32 and saveable."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The weights are already plain tensors; transformers only refuses to save because of the GGUF marker.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model, tok
