"""The local-model layer: every causal LM this project runs on its own machine goes through here.

* ``device``: the device (``auto | cpu | cuda | cuda:N | mps``) and dtype settings and what ``auto`` means.
* ``usage``: which models a run used, on which device and dtype (stored with the run).
* ``load``: a causal LM and its tokenizer by name (cached per name, dtype and device), fresh copies for
  training and merging, adapters, the GGUF dequantization. It is the only product module that calls ``from_pretrained`` on a causal LM or its
  tokenizer (``tests/test_single_model_loader.py`` holds the rule).
* ``batch``: chat-template prompts as token ids and padding that never touches a tokenizer's ``padding_side``.
* ``score``: token log-likelihoods over chosen positions (perplexity, answer NLL, relevance) and next-token
  probabilities (yes/no and A/B judges), in length-sorted batches that share their common prefix.
* ``generate``: batched generation with per-row sampling (each row its own temperature, top-p, length and
  seeded generator), the same text for a request whichever batch it lands in.

torch and transformers are imported inside the functions, so importing this package costs nothing.
"""

from __future__ import annotations

from datagen.lm import usage
from datagen.lm.batch import chat_ids, common_prefix, pad_batch, pad_id
from datagen.lm.device import (
    DEVICES,
    DTYPES,
    batch_for,
    check_device,
    check_dtype,
    dtype_used,
    has_bf16,
    resolve_device,
    resolve_dtype,
    torch_dtype,
)
from datagen.lm.generate import Generation, generate
from datagen.lm.load import load_adapter, load_causal_lm, load_gguf, load_model, load_tokenizer
from datagen.lm.score import next_token_probs, perplexities, token_nll

__all__ = [
    "DEVICES",
    "DTYPES",
    "Generation",
    "batch_for",
    "chat_ids",
    "check_device",
    "check_dtype",
    "common_prefix",
    "dtype_used",
    "generate",
    "has_bf16",
    "load_adapter",
    "load_causal_lm",
    "load_gguf",
    "load_model",
    "load_tokenizer",
    "next_token_probs",
    "pad_batch",
    "pad_id",
    "perplexities",
    "resolve_device",
    "resolve_dtype",
    "token_nll",
    "torch_dtype",
    "usage",
]
