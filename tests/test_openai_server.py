"""The openai provider against a real OpenAI-compatible server: llama-cpp-python's serving the SmolLM2 GGUF
(``tests/llama_server.py``), through the real ``openai`` SDK. Chat completions, stop strings, seeds, usage
counts, and one short ``datagen generate self-instruct`` run. A few tokens per request: seconds each."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datagen.endpoint import ModelEndpoint
from datagen.providers.base import Provider, Request, SamplingParams
from datagen.providers.registry import make_provider
from tests.llama_server import ALIAS, LlamaServer

pytestmark = pytest.mark.slow
ASK = [{"role": "user", "content": "Name three colours."}]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    with LlamaServer(tmp_path_factory.mktemp("llama") / "server.log") as s:
        yield s


@pytest.fixture(scope="module")
def sdk(server: LlamaServer) -> Any:
    import openai

    return openai.OpenAI(base_url=server.url, api_key="not-needed", max_retries=0)


@pytest.fixture(scope="module")
def provider(server: LlamaServer) -> Provider:
    return make_provider(ModelEndpoint(provider="openai", model=ALIAS, options={"base_url": server.url}))


def ask(provider: Provider, sdk: Any, **params: Any) -> Any:
    reset(sdk)
    [result] = provider.complete([Request.of(ASK, SamplingParams(**params))])
    return result


def direct(sdk: Any, **body: Any) -> Any:
    reset(sdk)
    return sdk.chat.completions.create(model=ALIAS, messages=ASK, **body)


def reset(sdk: Any) -> None:
    """One token of another prompt first. llama.cpp keeps the previous request's prompt in its KV cache and
    evaluates only what differs: a request right after the same one computes its first logits from another
    split of the prompt and, sampling, can draw another text for the same seed. After this, every compared
    request is evaluated the same way."""
    sdk.chat.completions.create(model=ALIAS, messages=[{"role": "user", "content": "Hi"}], max_tokens=1)


def test_a_chat_completion_is_the_servers_answer_with_its_usage(provider: Provider, sdk: Any) -> None:
    got = ask(provider, sdk, temperature=0.0, max_tokens=12)
    want = direct(sdk, temperature=0.0, top_p=0.9, max_tokens=12)
    assert got.text == want.choices[0].message.content and got.text.strip()
    assert (got.finish_reason, got.model_used) == (want.choices[0].finish_reason, ALIAS)
    assert (got.prompt_tokens, got.completion_tokens) == (
        want.usage.prompt_tokens,
        want.usage.completion_tokens,
    )
    assert got.completion_tokens <= 12 and got.raw["usage"]["total_tokens"] == want.usage.total_tokens


def test_the_server_stops_before_a_stop_string(provider: Provider, sdk: Any) -> None:
    full = ask(provider, sdk, temperature=0.0, max_tokens=12).text
    stop = full.split()[2]  # a word inside the greedy answer
    got = ask(provider, sdk, temperature=0.0, max_tokens=12, stop=[stop])
    assert got.text == full[: full.index(stop)] and got.finish_reason == "stop"
    assert got.completion_tokens < 12
    want = direct(sdk, temperature=0.0, top_p=0.9, max_tokens=12, stop=[stop])
    assert want.choices[0].message.content == got.text  # the server cut it, not only this side


def test_the_same_seed_samples_the_same_text_and_another_seed_another(provider: Provider, sdk: Any) -> None:
    a, b, c = (ask(provider, sdk, temperature=1.0, top_p=1.0, max_tokens=10, seed=s).text for s in (7, 7, 8))
    assert a == b and a != c


def test_the_same_seed_back_to_back_samples_the_same_text(sdk: Any) -> None:
    """Requests after the same request are evaluated alike (see ``reset``: the one before them may not be)."""
    body = {"model": ALIAS, "messages": ASK, "temperature": 1.0, "max_tokens": 10, "seed": 7}
    sdk.chat.completions.create(**body)
    texts = {sdk.chat.completions.create(**body).choices[0].message.content for _ in range(3)}
    assert len(texts) == 1


def test_without_a_seed_the_server_samples_anew(sdk: Any) -> None:
    texts = {direct(sdk, temperature=1.0, max_tokens=10).choices[0].message.content for _ in range(3)}
    assert len(texts) > 1


def test_self_instruct_through_the_cli_records_the_servers_usage(
    server: LlamaServer, sdk: Any, run_cli: Any, fresh_db: Path, tmp_path: Path
) -> None:
    args = ["generate", "self-instruct", "--seeds", "builtin", "--n", "2", "--max-steps", "1",
            "--prompts-per-step", "1", "--max-tokens", "48", "--instance-sampling-max-tokens", "24",
            "--provider", "openai", "--model", ALIAS, "--option", f"base_url={server.url}",
            "--exec-prices", f"{ALIAS}=[0, 0]", "--json"]  # fmt: skip
    r = run_cli(*args)
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    con = sqlite3.connect(fresh_db)
    rows = con.execute(
        "SELECT key, request, prompt_tokens, completion_tokens, raw, finish_reason FROM completions"
    ).fetchall()
    assert rows and summary["requests"] == len(rows)  # one request per completion, nothing retried
    for _, request, prompt_tokens, completion_tokens, raw, finish in rows:
        usage = json.loads(raw)["usage"]  # the server's own JSON
        assert (prompt_tokens, completion_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
        if finish == "length":  # cut by the limit: exactly max_tokens generated
            assert completion_tokens == json.loads(request)["params"]["max_tokens"]
    assert any(row[5] == "length" for row in rows)
    assert summary["prompt_tokens"] == sum(row[2] for row in rows)
    assert summary["completion_tokens"] == sum(row[3] for row in rows)
    by_key = {row[0]: (row[2], row[3]) for row in rows}
    records = con.execute(
        "SELECT request_hash, prompt_tokens, completion_tokens FROM records WHERE request_hash IS NOT NULL"
    ).fetchall()
    assert records and all(by_key[key] == (p, c) for key, p, c in records)
    for _, request, prompt_tokens, *_ in rows:  # each prompt sent again by hand: the same prompt tokens
        req = json.loads(request)
        again = sdk.chat.completions.create(model=ALIAS, messages=req["messages"], max_tokens=1)
        assert again.usage.prompt_tokens == prompt_tokens
    con.close()
    r = run_cli(*args)  # a rerun replays the server's answers from the cache
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["requests"] == 0
