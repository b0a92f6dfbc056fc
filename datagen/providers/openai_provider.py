"""OpenAI chat completions, and any OpenAI-compatible server (vLLM, llama.cpp server, Ollama, TGI)
through ``base_url``. A server of your own usually needs no key; api.openai.com does (``OPENAI_API_KEY``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from datagen.config import ConfigModel
from datagen.providers.base import Provider, ProviderError, Request, Result
from datagen.providers.sdk_errors import MALFORMED, translate


class OpenAIOptions(ConfigModel):
    base_url: str | None = Field(
        default=None, description="an OpenAI-compatible endpoint, e.g. http://localhost:8000/v1"
    )
    organization: str | None = None
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = Field(
        default="max_tokens", description="o-series models want max_completion_tokens"
    )
    send_seed: bool = Field(default=True, description="pass params.seed to the API (best-effort determinism)")


class OpenAIProvider(Provider):
    name = "openai"
    needs_key = True
    key_env_var = "OPENAI_API_KEY"
    Options = OpenAIOptions

    def __init__(self, model: str, options: ConfigModel | None = None, api_key: str | None = None) -> None:
        super().__init__(model, options)
        import openai

        assert isinstance(self.options, OpenAIOptions)
        self._sdk = openai
        self._client = openai.OpenAI(
            api_key=api_key or "not-needed",
            base_url=self.options.base_url,
            organization=self.options.organization,
            max_retries=0,
        )

    @classmethod
    def key_optional(cls, options: ConfigModel) -> bool:
        return bool(getattr(options, "base_url", None))

    def complete(self, requests: list[Request]) -> list[Result]:
        return [self._one(r) for r in requests]

    def _one(self, request: Request) -> Result:
        assert isinstance(self.options, OpenAIOptions)
        p = request.params
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": request.message_dicts(),
            "temperature": p.temperature,
            "top_p": p.top_p,
            self.options.max_tokens_field: p.max_tokens,
        }
        if p.stop:
            kwargs["stop"] = p.stop
        if p.seed is not None and self.options.send_seed:
            kwargs["seed"] = p.seed
        where = f"openai:{self.model}"
        try:
            resp = self._client.with_options(timeout=self.timeout_s).chat.completions.create(**kwargs)
        except (self._sdk.OpenAIError, *MALFORMED) as e:
            raise translate(e, self._sdk, where) from e
        try:
            choice = resp.choices[0]
            text = choice.message.content
            usage = resp.usage
            tokens = (int(usage.prompt_tokens), int(usage.completion_tokens)) if usage else (0, 0)
        except (AttributeError, IndexError, TypeError, ValueError) as e:
            raise ProviderError(f"{where}: malformed response: {e}", retryable=True) from e
        if not isinstance(text, str):
            raise ProviderError(f"{where}: response has no text content", retryable=True)
        return Result(
            text=text,
            model_used=str(resp.model or self.model),
            prompt_tokens=tokens[0],
            completion_tokens=tokens[1],
            finish_reason=choice.finish_reason,
            raw=resp.model_dump(mode="json"),
        )
