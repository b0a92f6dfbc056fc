"""Anthropic messages API (``ANTHROPIC_API_KEY``). System messages go into ``system``; the stop reason
maps to ``stop`` / ``length`` like the other providers."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from datagen.config import ConfigModel
from datagen.providers.base import Provider, ProviderError, Request, Result
from datagen.providers.sdk_errors import MALFORMED, translate

_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


class AnthropicOptions(ConfigModel):
    base_url: str | None = Field(default=None, description="another endpoint speaking the messages API")
    send_sampling: bool = Field(
        default=False,
        description="send temperature and top_p (as extra body fields: the current SDK no longer has them, "
        "and current models fix their own sampling); for older models or compatible servers that take them",
    )


class AnthropicProvider(Provider):
    name = "anthropic"
    needs_key = True
    key_env_var = "ANTHROPIC_API_KEY"
    Options = AnthropicOptions

    def __init__(self, model: str, options: ConfigModel | None = None, api_key: str | None = None) -> None:
        super().__init__(model, options)
        import anthropic

        assert isinstance(self.options, AnthropicOptions)
        self._sdk = anthropic
        self._client = anthropic.Anthropic(api_key=api_key, base_url=self.options.base_url, max_retries=0)

    def complete(self, requests: list[Request]) -> list[Result]:
        return [self._one(r) for r in requests]

    def _one(self, request: Request) -> Result:
        assert isinstance(self.options, AnthropicOptions)
        p = request.params
        system = "\n\n".join(c for r, c in request.messages if r == "system")
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": r, "content": c} for r, c in request.messages if r != "system"],
            "max_tokens": p.max_tokens,
        }
        if self.options.send_sampling:
            kwargs["extra_body"] = {"temperature": p.temperature, "top_p": p.top_p}
        if system:
            kwargs["system"] = system
        if p.stop:
            kwargs["stop_sequences"] = p.stop
        where = f"anthropic:{self.model}"
        try:
            resp = self._client.with_options(timeout=self.timeout_s).messages.create(**kwargs)
        except (self._sdk.AnthropicError, *MALFORMED) as e:
            raise translate(e, self._sdk, where) from e
        try:
            texts = [b.text for b in resp.content if getattr(b, "type", None) == "text"]
            usage = (int(resp.usage.input_tokens), int(resp.usage.output_tokens))
        except (AttributeError, TypeError, ValueError) as e:
            raise ProviderError(f"{where}: malformed response: {e}", retryable=True) from e
        if not texts:
            raise ProviderError(f"{where}: response has no text content", retryable=True)
        return Result(
            text="".join(texts),
            model_used=str(resp.model or self.model),
            prompt_tokens=usage[0],
            completion_tokens=usage[1],
            finish_reason=_FINISH.get(str(resp.stop_reason), resp.stop_reason),
            raw=resp.model_dump(mode="json"),
        )
