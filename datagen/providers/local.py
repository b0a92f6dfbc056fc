"""A local transformers model as a teacher or judge (default SmolLM2-135M-Instruct from the model cache).

Requests are generated together in batches of ``batch_size`` by ``datagen.lm.generate`` from the tokenizer's
chat template, on the endpoint's ``dtype`` and ``device``. Sampling is nucleus sampling (top-p 0.9 by
default) done per row with the row's own generator, seeded from the request's cache key (which includes
``params.seed`` and ``sample_index``): a request gives the same text whichever batch it lands in, up to float
rounding, so a cached answer is the answer the request would get again. A row that reaches its
``max_tokens`` finishes with ``finish_reason="length"``. Costs nothing; one call at a time
(``max_concurrency = 1``).
"""

from __future__ import annotations

import hashlib

from pydantic import Field

from datagen import lm, modelhub
from datagen.config import ConfigModel
from datagen.providers.base import Provider, ProviderError, Request, Result


class LocalOptions(ConfigModel):
    """The local provider's options (its dtype and device are the endpoint's own fields)."""

    batch_size: int = Field(
        default=16, ge=1, description="requests generated together (16: ~5x the tokens/s of one)"
    )


def request_seed(request: Request, provider: str, model: str) -> int:
    return int(hashlib.sha256(request.cache_key(provider, model).encode()).hexdigest()[:15], 16)


class LocalProvider(Provider):
    """Batched generation with a local causal LM (``datagen.lm.load_causal_lm``; never trained here)."""

    name = "local"
    free = True
    runs_locally = True
    max_concurrency = 1
    default_model = modelhub.SMOLLM2
    Options = LocalOptions
    # Takes every sampling parameter (stop strings end a row early, presence penalty as OpenAI defines it).
    # The generation methods' published lengths (1,024-2,048 tokens) run minutes per request on a CPU with a
    # small model that rarely ends on its own: their defaults are capped at 256 new tokens unless a length is set.
    default_max_tokens = 256

    def __init__(
        self, model: str, options: ConfigModel | None = None, dtype: str = "float32", device: str = "auto"
    ) -> None:
        super().__init__(model, options)
        assert isinstance(self.options, LocalOptions)
        self.max_batch = self.options.batch_size
        self.dtype = lm.check_dtype(dtype)
        self.device = lm.check_device(device)

    def cache_model(self) -> str:
        return f"{self.model}@{self.dtype}"

    def complete(self, requests: list[Request]) -> list[Result]:
        model, tok = lm.load_causal_lm(self.model, self.dtype, self.device)
        prompts = [lm.chat_ids(tok, r.message_dicts()) for r in requests]
        seeds = [request_seed(r, self.name, self.cache_model()) for r in requests]
        gens = lm.generate(
            model, tok, prompts, [r.params for r in requests], seeds, should_stop=self.cancelled.is_set
        )
        if self.cancelled.is_set():  # interrupted: the answers are incomplete and must not be cached
            raise ProviderError(f"{self.label}: cancelled while generating", retryable=False)
        return [
            Result(
                text=g.text,
                model_used=self.model,
                prompt_tokens=g.prompt_tokens,
                completion_tokens=g.completion_tokens,
                finish_reason=g.finish_reason,
                raw={"seed": seed, "dtype": self.dtype},
            )
            for g, seed in zip(gens, seeds, strict=True)
        ]
