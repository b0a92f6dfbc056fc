"""Local generation on Ray (``generate --executor ray``) on one local Ray instance (2 CPUs) shared by this module:
the same answers as in-process, a lost actor replaced without losing or repeating an answer, a killed driver
resumed to the records of an uninterrupted run, and the refusals (API provider, worker processes, no Ray)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from datagen.endpoint import ModelEndpoint
from datagen.lm import usage
from datagen.providers.base import Request, Result, SamplingParams
from datagen.providers.exec_config import ExecConfig
from datagen.providers.executor import Executor
from datagen.providers.registry import make_provider
from datagen.store import open_store
from datagen.store.runs import RunHandle, start_run
from tests.gen_fakes import write_seeds
from tests.ray_local import actor_pids

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    from tests.finetune_tiny import make_tiny_model

    return str(make_tiny_model(tmp_path_factory.mktemp("tiny") / "model"))


def asks(n: int) -> list[Request]:
    """Requests of different lengths (so the executor's length sort matters), sampled at temperature 1."""
    return [
        Request.of(
            [{"role": "user", "content": f"Write about topic {i}. " + "More detail, please. " * (i % 4)}],
            SamplingParams(max_tokens=6 + i % 5, temperature=1.0, top_p=0.9),
        )
        for i in range(n)
    ]


def generate(db: Path, tiny: str, requests: list[Request], **exec_kw: Any) -> tuple[list[Result], Any]:
    """``requests`` through an executor of the tiny model (3 per chunk) on a fresh database; (answers, run)."""
    store = open_store(str(db))
    run = RunHandle(store, start_run(store, "test", {}))
    provider = make_provider(
        ModelEndpoint(provider="local", model=tiny, options={"batch_size": 3}, device="cpu")
    )
    ex = Executor(store, provider, ExecConfig(**exec_kw, backoff_s=0.1), run)
    try:
        return ex.run(requests, progress=False), run
    finally:
        ex.close()
        store.close()


def same(a: list[Result], b: list[Result]) -> bool:
    def key(r: Result) -> tuple[Any, ...]:
        return r.text, r.prompt_tokens, r.completion_tokens, r.finish_reason

    return [key(r) for r in a] == [key(r) for r in b]


@pytest.fixture(scope="module")
def in_process(tmp_path_factory: pytest.TempPathFactory, tiny: str) -> list[Result]:
    return generate(tmp_path_factory.mktemp("local") / "l.db", tiny, asks(40))[0]


def test_actors_give_the_in_process_answers_and_report_their_model(
    tmp_path: Path, ray_local: tuple[str, str], tiny: str, in_process: list[Result]
) -> None:
    with usage.recording() as used:
        remote, run = generate(
            tmp_path / "r.db", tiny, asks(40), executor="ray", ray_address=ray_local[0], ray_actors=2
        )
    assert same(remote, in_process)
    assert len({r.text for r in remote}) > 30  # sampled, not one repeated answer
    assert (run.counters["requests"], run.counters["cache_hits"], run.counters["retries"]) == (40, 0, 0)
    assert used == {tiny: "cpu float32"}  # loaded on the actors, recorded here

    store = open_store(str(tmp_path / "r.db"))  # a rerun replays everything and starts no actor
    provider = make_provider(
        ModelEndpoint(provider="local", model=tiny, options={"batch_size": 3}, device="cpu")
    )
    ex = Executor(store, provider, ExecConfig(executor="ray", ray_address=ray_local[0], ray_actors=2))
    assert same(ex.run(asks(40), progress=False), in_process)
    assert ex.remote is not None and ex.remote._actors == []
    ex.close()
    store.close()


def test_a_lost_actor_is_replaced_and_no_answer_is_lost_or_repeated(
    tmp_path: Path, ray_local: tuple[str, str], tiny: str, in_process: list[Result]
) -> None:
    got: dict[str, Any] = {}
    db = tmp_path / "r.db"

    def work() -> None:
        got["answers"], got["run"] = generate(
            db, tiny, asks(40), executor="ray", ray_address=ray_local[0], ray_actors=2
        )

    worker = threading.Thread(target=work)
    worker.start()
    killed = None
    deadline = time.monotonic() + 240
    while killed is None and worker.is_alive() and time.monotonic() < deadline:
        pids = actor_pids(ray_local[1], "ModelActor")
        done = answered(db)
        if len(pids) == 2 and done:
            killed = pids[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.02)
    worker.join(timeout=300)
    assert killed is not None and done < 40
    assert same(got["answers"], in_process)  # the chunk the lost actor held was generated again, the same
    counters = got["run"].counters
    assert counters["requests"] == 40 and counters["retries"] >= 1
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*), count(DISTINCT key) FROM completions").fetchone() == (40, 40)


def answered(db: Path) -> int:
    """Answers cached so far (0 while the database is still being made)."""
    try:
        with sqlite3.connect(db) as con:
            return int(con.execute("SELECT count(*) FROM completions").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def command(db: Path, seeds: Path, tiny: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "datagen", "--db", str(db), "generate", "self-instruct", "--seeds", str(seeds),
            "--n", "8", "--max-steps", "3", "--prompts-per-step", "4", "--provider", "local", "--model", tiny,
            "--option", "batch_size=2", "--max-tokens", "24", "--device", "cpu", *extra]  # fmt: skip


def records(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as con:
        return con.execute(
            "SELECT uid, instruction, input, output, status FROM records ORDER BY uid"
        ).fetchall()


def test_a_killed_driver_resumes_to_the_records_of_an_uninterrupted_run(
    tmp_path: Path, ray_local: tuple[str, str], tiny: str
) -> None:
    seeds = write_seeds(
        tmp_path / "seeds.jsonl", [(f"Give {k} tips for staying healthy.", False) for k in range(4)]
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATAGEN_PROGRESS": "0"}
    plain = tmp_path / "plain.db"
    subprocess.run(command(plain, seeds, tiny), env=env, check=True, capture_output=True, timeout=300)

    db = tmp_path / "ray.db"
    on_ray = command(db, seeds, tiny, "--executor", "ray", "--address", ray_local[0])
    proc = subprocess.Popen(on_ray, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None and not answered(db):
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)  # also when the test fails: no driver outlives it
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode() if proc.stderr else ""
    with sqlite3.connect(db) as con:
        kept = con.execute("SELECT count(*) FROM completions").fetchone()[0]
    with sqlite3.connect(plain) as con:
        total = con.execute("SELECT count(*) FROM completions").fetchone()[0]
    assert 0 < kept < total

    done = subprocess.run(on_ray, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert records(db) == records(plain)
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM completions").fetchone()[0] == total
        runs = con.execute(
            "SELECT status, json_extract(counters, '$.requests'), json_extract(counters, '$.device') FROM runs "
            "WHERE kind = 'generate' ORDER BY id"
        ).fetchall()
    assert [r[:2] for r in runs] == [
        ("interrupted", kept),
        ("succeeded", total - kept),
    ]  # none generated twice
    assert runs[1][2] == "cpu"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--provider", "openai", "--model", "gpt-4o-mini", "--api-key", "k"],
            "executor ray runs local models (provider local); openai:",
        ),
        (
            ["--workers", "2"],
            "workers/share_work share the run with worker processes; executor ray with actors",
        ),
    ],
)
def test_what_executor_ray_refuses(
    store: Any, run_cli: Any, tmp_path: Path, args: list[str], message: str
) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", [("Give tips.", False)])
    res = run_cli("generate", "self-instruct", "--seeds", str(seeds), "--executor", "ray", *args)
    assert res.exit_code == 2 and message in res.output, res.output
    with sqlite3.connect(tmp_path / "test.db") as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_without_ray_the_install_command_is_named(
    store: Any, run_cli: Any, tmp_path: Path, ray_missing: None
) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", [("Give tips.", False)])
    res = run_cli("generate", "self-instruct", "--seeds", str(seeds), "--executor", "ray")
    assert res.exit_code == 2
    assert "--executor ray needs Ray: run `pip install 'datagen[ray]'`" in res.output
    with sqlite3.connect(tmp_path / "test.db") as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
