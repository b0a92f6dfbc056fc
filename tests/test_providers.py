"""Provider registry, key resolution, option validation, prices, wire formats and the rate limiter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from datagen.endpoint import ModelEndpoint
from datagen.errors import InputError
from datagen.providers.base import Provider, Request, Result, SamplingParams
from datagen.providers.pricing import cost_usd, price_of
from datagen.providers.ratelimit import RateLimiter
from datagen.providers.registry import make_provider, names, register
from datagen.providers.sdk_errors import retry_after
from tests.fake_api import FakeAPI


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as a:
        yield a


@pytest.fixture(autouse=True)
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)


@pytest.mark.parametrize(("name", "var"), [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY")])
def test_a_missing_key_names_the_variable(name: str, var: str) -> None:
    with pytest.raises(InputError, match=f"needs an API key: set the environment variable {var}"):
        make_provider(ModelEndpoint(provider=name, model="some-model"))


def test_key_resolution_order_is_config_then_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    with_key = make_provider(ModelEndpoint(provider="openai", model="m", api_key="from-config"))
    assert with_key._client.api_key == "from-config"  # type: ignore[attr-defined]
    assert make_provider(ModelEndpoint(provider="openai", model="m"))._client.api_key == "from-env"  # type: ignore[attr-defined]


def test_an_openai_compatible_server_needs_no_key(api: FakeAPI) -> None:
    p = make_provider(ModelEndpoint(provider="openai", model="llama", options={"base_url": api.openai_url}))
    [r] = p.complete([Request.of([{"role": "user", "content": "hi"}], SamplingParams())])
    assert r.text == "reply to: hi"


def test_unknown_option_keys_and_providers_are_input_errors() -> None:
    with pytest.raises(InputError, match="unknown key 'bse_url' in options of provider 'openai'"):
        make_provider(ModelEndpoint(provider="openai", model="m", options={"bse_url": "x"}, api_key="k"))
    with pytest.raises(InputError, match="unknown key 'batchsize' in options of provider 'local'"):
        make_provider(ModelEndpoint(provider="local", options={"batchsize": 4}))
    with pytest.raises(InputError, match="unknown provider 'cohere': choose one of anthropic, local, openai"):
        make_provider(ModelEndpoint(provider="cohere", model="m"))
    with pytest.raises(InputError, match="provider 'openai' needs a model name"):
        make_provider(ModelEndpoint(provider="openai", api_key="k"))


def test_local_provider_defaults_and_options_without_loading_the_model() -> None:
    p = make_provider(ModelEndpoint(provider="local", options={"batch_size": 3}, dtype="bfloat16"))
    assert p.model == "smollm2-135m-instruct"
    assert p.max_batch == 3 and p.max_concurrency == 1 and p.free
    assert p.cache_model() == "smollm2-135m-instruct@bfloat16"


def test_a_plugin_registers_like_the_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    from datagen.providers import registry

    monkeypatch.setattr(registry, "PROVIDERS", dict(registry.PROVIDERS))  # the plugin stays in this test

    class Echo(Provider):
        name = "echo-test"

        def complete(self, requests: list[Request]) -> list[Result]:
            return [Result(r.messages[-1][1], self.model) for r in requests]

    register(Echo)
    assert "echo-test" in names()
    assert isinstance(make_provider(ModelEndpoint(provider="echo-test", model="x")), Echo)


def test_wire_formats_carry_params_system_and_stop(api: FakeAPI) -> None:
    params = SamplingParams(temperature=0.3, top_p=0.8, max_tokens=17, stop=["\n\n", "END"], seed=5)
    msgs = [{"role": "system", "content": "sys"}, {"role": "user", "content": "u"}]
    make_provider(
        ModelEndpoint(provider="openai", model="gpt-4o", options={"base_url": api.openai_url}, api_key="k")
    ).complete([Request.of(msgs, params)])
    oa = api.bodies[-1]
    assert (oa["temperature"], oa["top_p"], oa["max_tokens"], oa["stop"], oa["seed"]) == (
        0.3,
        0.8,
        17,
        ["\n\n", "END"],
        5,
    )
    assert oa["messages"] == msgs
    prov = make_provider(
        ModelEndpoint(
            provider="anthropic",
            model="claude-3-5-haiku",
            options={"base_url": api.url, "send_sampling": True},
            api_key="k",
        )
    )
    [res] = prov.complete([Request.of(msgs, params)])
    an = api.bodies[-1]
    assert an["system"] == "sys" and an["messages"] == [{"role": "user", "content": "u"}]
    # Anthropic refuses a whitespace-only stop sequence: that one is cut on this side instead
    assert (an["max_tokens"], an["stop_sequences"], an["temperature"], an["top_p"]) == (
        17,
        ["END"],
        0.3,
        0.8,
    )
    assert (res.text, res.finish_reason, res.prompt_tokens, res.completion_tokens) == (
        "reply to: u",
        "stop",
        2,
        3,
    )
    assert (res.raw["usage"]["input_tokens"], res.raw["usage"]["output_tokens"]) == (2, 3)


def test_prices_defaults_dated_names_overrides_and_unknowns() -> None:
    assert price_of("gpt-4o-mini") == (0.15, 0.60)
    assert price_of("gpt-4o-mini-2024-07-18") == (0.15, 0.60)
    assert price_of("claude-3-5-sonnet-20241022") == (3.0, 15.0)
    assert price_of("o3-pro") is None  # not guessed from "o3"
    assert price_of("gpt-4o", {"gpt-4o": (1.0, 2.0)}) == (1.0, 2.0)
    assert cost_usd((1.0, 2.0), 1_000_000, 500_000) == pytest.approx(2.0)
    assert cost_usd(None, 10, 10) == 0.0


def test_retry_after_headers() -> None:
    assert retry_after({"retry-after": "2"}) == 2.0
    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a date in the past
    assert retry_after({}) is None
    assert retry_after({"retry-after": "soon"}) is None  # unreadable: ignored, not raised


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_rate_limiter_paces_requests_and_tokens_evenly() -> None:
    clock = FakeClock()
    rl = RateLimiter(rpm=120, tpm=None, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(5):
        rl.acquire(1, 0)
        starts.append(clock.t)
    assert [round(s - starts[0], 6) for s in starts] == [0.0, 0.5, 1.0, 1.5, 2.0]
    clock2 = FakeClock()
    rl2 = RateLimiter(rpm=None, tpm=600, clock=clock2, sleep=clock2.sleep)  # 10 tokens a second
    rl2.acquire(1, 50)
    rl2.correct_tokens(50, 20)  # used fewer than booked: the next may start sooner
    rl2.acquire(1, 10)
    assert clock2.t == pytest.approx(102.0)
    rl2.pause(3.0)
    rl2.acquire(1, 0)
    assert clock2.t == pytest.approx(105.0)


def test_the_cache_identity_is_the_model_unless_the_endpoint_says_otherwise(api: FakeAPI) -> None:
    def identity(**kw: Any) -> str:
        return make_provider(ModelEndpoint(api_key="k", **kw)).cache_model()

    assert identity(provider="openai", model="gpt-4o") == "gpt-4o"
    # the same server under another port or host alias is the same endpoint: its answers replay
    assert identity(provider="openai", model="gpt-4o", options={"base_url": api.openai_url}) == "gpt-4o"
    assert (
        identity(provider="openai", model="gpt-4o", options={"base_url": "http://localhost:9/v1"}) == "gpt-4o"
    )
    assert identity(provider="anthropic", model="c", options={"base_url": api.url}) == "c"
    # different weights under one name, or a cache written when the address was part of the key: say so
    assert identity(provider="openai", model="default", cache_as="vllm-qwen-7b") == "vllm-qwen-7b"
    p = make_provider(ModelEndpoint(provider="openai", model="m", options={"base_url": api.openai_url}))
    assert p.label == f"openai:m@{api.openai_url}"  # errors still name the server
