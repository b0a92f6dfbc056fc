"""Loading causal LMs and their tokenizers, and the device and dtype settings they load with.

This is the only product module that calls ``from_pretrained`` on a causal LM, a PEFT adapter or a causal
LM's tokenizer; ``datagen.modelhub`` says *where* a model comes from (aliases, the cache folder, checks).

* ``load_causal_lm``: (model, tokenizer) in eval mode for inference, cached per process per
  (name, dtype, device): the perplexity filter, the adherence judge and the local teacher share one copy.
  Never train or modify the object it returns.
* ``load_model`` / ``load_adapter``: fresh, uncached copies (training, merging, scoring an adapter).
* ``load_gguf``: a GGUF file dequantized to plain float32 weights, ready for ``save_pretrained``.

Devices and dtypes: ``datagen.lm.device`` (what ``auto`` means for each). Every load is noted in the running
command's record of the models it used (``datagen.lm.usage``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from datagen import modelhub
from datagen.errors import InputError
from datagen.lm import usage
from datagen.lm.device import check_dtype, resolve_device, resolve_dtype, torch_dtype


def load_causal_lm(
    name: str = modelhub.SMOLLM2, dtype: str = "float32", device: str = "auto"
) -> tuple[Any, Any]:
    """(model, tokenizer) in eval mode on ``device``, cached per process per (name, dtype, device).

    Never train the object this returns: it is shared by every caller in the process.
    """
    where = resolve_device(device)
    concrete = resolve_dtype(check_dtype(dtype), where)
    usage.note(name, where, concrete)
    return _cached_causal_lm(name, concrete, where)


@cache
def _cached_causal_lm(name: str, dtype: str, device: str) -> tuple[Any, Any]:
    path = modelhub.resolve(name)
    try:
        tok = load_tokenizer(path)
    except OSError as e:
        raise InputError(f"cannot load model {name!r} ({path}): {e}") from e
    model = load_model(path, dtype, name=name, device=device)
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
    device: str = "cpu",
) -> Any:
    """A fresh causal LM from a folder or hub id (never the cached one): for training, merging and scoring.

        ``dtype`` is a setting (``float32``, ``bf16``, ...) or a torch dtype; ``quantization_config`` and
        ``device_map`` go to ``from_pretrained`` (QLoRA's 4-bit load); ``device`` is where the model will run (what
    dtype ``auto`` means; the caller moves it). An unloadable folder is an InputError
        naming ``what`` and ``name``.
    """
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": torch_dtype(dtype, device) if isinstance(dtype, str) else dtype}
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
