"""Anthropic messages API (``ANTHROPIC_API_KEY``). System messages go into ``system``; the stop reason
maps to ``stop`` / ``length`` like the other providers."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from datagen.config import ConfigModel
from datagen.providers.base import BaseUrl, BatchProvider, BatchState, ProviderError, Request, Result
from datagen.providers.sdk_errors import translated

_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


class AnthropicOptions(ConfigModel):
    base_url: BaseUrl = Field(default=None, description="another endpoint speaking the messages API")
    send_sampling: bool = Field(
        default=False,
        description="send temperature and top_p (as extra body fields: the current SDK no longer has them, "
        "and current models fix their own sampling); for older models or compatible servers that take them",
    )


class AnthropicProvider(BatchProvider):
    name = "anthropic"
    needs_key = True
    key_env_var = "ANTHROPIC_API_KEY"
    Options = AnthropicOptions
    # No presence penalty and no seed; temperature and top_p only with send_sampling; a whitespace-only stop
    # sequence is refused ("each stop sequence must contain non-whitespace"): cut on this side.
    takes = frozenset({"stop"})
    blank_stops = False

    def sampling_support(self) -> frozenset[str]:
        assert isinstance(self.options, AnthropicOptions)
        return self.takes | ({"temperature", "top_p"} if self.options.send_sampling else set())

    def __init__(self, model: str, options: ConfigModel | None = None, api_key: str | None = None) -> None:
        super().__init__(model, options)
        import anthropic

        assert isinstance(self.options, AnthropicOptions)
        self._sdk = anthropic
        self._client = anthropic.Anthropic(api_key=api_key, base_url=self.options.base_url, max_retries=0)

    def complete(self, requests: list[Request]) -> list[Result]:
        return [self._one(r) for r in requests]

    def _params(self, request: Request) -> dict[str, Any]:
        assert isinstance(self.options, AnthropicOptions)
        p = self.sending(request.params).params
        system = "\n\n".join(c for r, c in request.messages if r == "system")
        params: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": r, "content": c} for r, c in request.messages if r != "system"],
            "max_tokens": p.max_tokens,
        }
        if self.options.send_sampling:
            params.update(temperature=p.temperature, top_p=p.top_p)
        if system:
            params["system"] = system
        if p.stop:
            params["stop_sequences"] = p.stop
        return params

    def _one(self, request: Request) -> Result:
        params = self._params(request)
        sampling = {k: params.pop(k) for k in ("temperature", "top_p") if k in params}
        where = self.label
        with translated(self._sdk, where):
            resp = self._client.with_options(timeout=self.timeout_s).messages.create(
                **params, **({"extra_body": sampling} if sampling else {})
            )
        return self._result(resp, where)

    def _result(self, resp: Any, where: str) -> Result:
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

    # -- Message Batches ----------------------------------------------------------------------------------

    def batch_submit(self, items: list[tuple[str, Request]]) -> str:
        requests = [{"custom_id": key, "params": self._params(r)} for key, r in items]
        with translated(self._sdk, f"{self.label} batch submit"):
            batch = self._client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        return str(batch.id)

    def batch_state(self, batch_id: str) -> BatchState:
        with translated(self._sdk, f"{self.label} batch status"):
            batch = self._client.messages.batches.retrieve(batch_id)
        c = batch.request_counts
        done = c.succeeded + c.errored + c.canceled + c.expired
        return BatchState(batch.processing_status == "ended", done, done + c.processing)

    def batch_results(self, batch_id: str) -> dict[str, Result | str]:
        where = f"{self.label} batch {batch_id}"
        out: dict[str, Result | str] = {}
        with translated(self._sdk, f"{self.label} batch results"):
            for item in self._client.messages.batches.results(batch_id):
                result = item.result
                if result.type == "succeeded":
                    try:
                        out[item.custom_id] = self._result(result.message, where)
                    except ProviderError as e:
                        out[item.custom_id] = str(e)
                else:
                    detail = getattr(result, "error", None)
                    out[item.custom_id] = f"{where}: {result.type}" + (f": {detail}" if detail else "")
        return out
