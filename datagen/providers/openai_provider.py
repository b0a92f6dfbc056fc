"""OpenAI chat completions, and any OpenAI-compatible server (vLLM, llama.cpp server, Ollama, TGI)
through ``base_url``. A server of your own usually needs no key; api.openai.com does (``OPENAI_API_KEY``)."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from datagen.config import ConfigModel
from datagen.providers.base import BaseUrl, BatchProvider, BatchState, ProviderError, Request, Result
from datagen.providers.sdk_errors import translated


class OpenAIOptions(ConfigModel):
    base_url: BaseUrl = Field(
        default=None, description="an OpenAI-compatible endpoint, e.g. http://localhost:8000/v1"
    )
    organization: str | None = None
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = Field(
        default="max_tokens", description="o-series models want max_completion_tokens"
    )
    send_seed: bool = Field(default=True, description="pass params.seed to the API (best-effort determinism)")


class OpenAIProvider(BatchProvider):
    name = "openai"
    needs_key = True
    key_env_var = "OPENAI_API_KEY"
    Options = OpenAIOptions
    max_stops = 4  # the API refuses more; the rest are cut on this side

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

    def sampling_support(self) -> frozenset[str]:
        assert isinstance(self.options, OpenAIOptions)
        return self.takes if self.options.send_seed else self.takes - {"seed"}

    def _body(self, request: Request) -> dict[str, Any]:
        assert isinstance(self.options, OpenAIOptions)
        p = self.sending(request.params).params
        body: dict[str, Any] = {
            "model": self.model,
            "messages": request.message_dicts(),
            "temperature": p.temperature,
            "top_p": p.top_p,
            self.options.max_tokens_field: p.max_tokens,
        }
        if p.stop:
            body["stop"] = p.stop
        if p.presence_penalty:
            body["presence_penalty"] = p.presence_penalty
        if p.seed is not None:
            body["seed"] = p.seed
        return body

    def _one(self, request: Request) -> Result:
        where = self.label
        with translated(self._sdk, where):
            resp = self._client.with_options(timeout=self.timeout_s).chat.completions.create(
                **self._body(request)
            )
        return self._result(resp, where)

    def _result(self, resp: Any, where: str) -> Result:
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

    # -- the Batch API: a JSONL file of requests, a batch over it, an output file of responses ----------------

    def batch_submit(self, items: list[tuple[str, Request]]) -> str:
        lines = [
            {"custom_id": key, "method": "POST", "url": "/v1/chat/completions", "body": self._body(r)}
            for key, r in items
        ]
        data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
        with translated(self._sdk, f"{self.label} batch submit"):
            file = self._client.files.create(file=("requests.jsonl", data), purpose="batch")
            batch = self._client.batches.create(
                input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
        return str(batch.id)

    def batch_state(self, batch_id: str) -> BatchState:
        with translated(self._sdk, f"{self.label} batch status"):
            batch = self._client.batches.retrieve(batch_id)
        counts = batch.request_counts
        done = (counts.completed + counts.failed) if counts else 0
        error = None
        if batch.status == "failed":
            errors = batch.errors.data if batch.errors and batch.errors.data else []
            error = "; ".join(f"{e.code}: {e.message}" for e in errors) or "failed"
        return BatchState(batch.status in _ENDED, done, counts.total if counts else 0, error)

    def batch_results(self, batch_id: str) -> dict[str, Result | str]:
        where = f"{self.label} batch {batch_id}"
        with translated(self._sdk, f"{self.label} batch results"):
            batch = self._client.batches.retrieve(batch_id)
            texts = [
                self._client.files.content(f).text for f in (batch.output_file_id, batch.error_file_id) if f
            ]
        from openai.types.chat import ChatCompletion

        out: dict[str, Result | str] = {}
        for line in (ln for text in texts for ln in text.splitlines() if ln.strip()):
            try:
                item = json.loads(line)
                response = item.get("response") or {}
                key = str(item["custom_id"])
            except (ValueError, AttributeError, KeyError, TypeError):
                continue  # an unreadable line: its request counts as unanswered (and is sent directly)
            if response.get("status_code") == 200:
                try:
                    out[key] = self._result(ChatCompletion.model_validate(response["body"]), where)
                except (ProviderError, ValueError) as e:  # pydantic's ValidationError is a ValueError
                    out[key] = str(e)
            else:
                error = item.get("error") or (response.get("body") or {}).get("error") or response
                out[key] = f"{where}: {json.dumps(error)[:300]}"
        return out


# A batch in one of these states will not change any more.
_ENDED = frozenset({"completed", "failed", "expired", "cancelled"})
