"""``datagen generate``: the CLI over the real openai SDK and the loopback fake API, and kill -9 + rerun."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from datagen import prompts
from datagen.errors import InputError
from tests.fake_api import FakeAPI
from tests.gen_fakes import write_seeds

ROOT = Path(__file__).resolve().parent.parent
SEEDS = [
    ("Give three tips for staying healthy during the winter months.", False),
    ("Decide whether the given movie review is positive or negative.", True),
    ("Translate the given English sentence into French.", False),
    ("Suggest a name for a bakery that sells only bread.", False),
]


def echo_with_a_new_task(user: str) -> str:
    """The fake's echo; a task list also gets one new task first. An echoed prompt is never a task: the
    parser takes the restated "Come up with a series of tasks:" off (it used to become one)."""
    echo = f"reply to: {user}"
    if user.startswith("Come up with a series of tasks"):
        n = int(hashlib.sha256(user.encode()).hexdigest()[:8], 16)
        return f"Describe the number {n} to a curious child in three sentences.\n\n{echo}"
    return echo


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI(responder=echo_with_a_new_task) as a:
        yield a


def teacher_flags(api: FakeAPI) -> list[str]:
    return ["--provider", "openai", "--model", "gpt-4o-mini", "--option", f"base_url={api.openai_url}",
            "--api-key", "sk-test"]  # fmt: skip


def test_api_key_comes_from_the_flag_then_the_recipe_then_the_environment(
    run_cli, api, tmp_path, monkeypatch
) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("api_key: sk-recipe\n")
    args = ["self-instruct", "--seeds", str(seeds), "--n", "2", "--max-steps", "1", "--estimate"]
    args += ["--provider", "openai", "--model", "gpt-4o-mini", "--option", f"base_url={api.openai_url}"]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    for extra, want in [
        (["--recipe", str(recipe), "--api-key", "sk-flag", "--seed", "1"], "sk-flag"),
        (["--recipe", str(recipe), "--seed", "2"], "sk-recipe"),
        (["--seed", "3"], "sk-env"),
    ]:
        api.keys.clear()
        r = run_cli("generate", *args, *extra)
        assert r.exit_code == 0, r.output
        assert api.keys and set(api.keys) == {want}


def plain_teacher(prompt: str) -> str:
    """Replies as a model that follows the prompts (the echo stops at the published stop strings)."""
    if prompt.startswith("Come up with a series of tasks"):
        return (
            "Summarize the given news article in one sentence.\n10. Tell whether the given sentence rhymes."
        )
    if prompt.startswith("Can the following task"):
        return "Yes" if "rhymes" in prompt.rsplit("Task:", 1)[-1] else "No"
    if prompt.startswith("Given the classification task"):
        return "Class label: Yes\nInput: The cat sat on the mat.\nClass label: No\nInput: The dog ran off."
    return "Example 1\nInput: The park opens on Monday.\nOutput: Park opens Monday.\nExample 2\nOutput: Rain."


def test_self_instruct_then_evol_through_the_cli(run_cli, api, tmp_path) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS)
    api.responder = plain_teacher
    args = ["--seeds", str(seeds), "--n", "5", "--max-steps", "2", "--prompts-per-step", "2"]
    r = run_cli("generate", "self-instruct", *args, *teacher_flags(api), "--json")
    assert r.exit_code == 0, r.output
    si = json.loads(r.stdout)
    assert si["steps"] == 2 and si["seeds"] == 4
    assert si["requests"] == api.requests  # every HTTP request is a counted request (no retries here)
    assert si["candidates"] == si["instructions_accepted"] + sum(si["rejected"].values())
    assert si["cost_usd"] > 0
    assert si["cost_per_kept_usd"] == round(si["cost_usd"] / si["instructions_accepted"], 6)

    api.responder = lambda user: f"reply to: {user}"  # the echo: every rewrite copies the template words
    evol_args = [
        "generate",
        "evol",
        "--from",
        f"run:{si['run_id']}",
        "--rounds",
        "2",
        *teacher_flags(api),
        "--json",
    ]
    r = run_cli(*evol_args, "--estimate")
    assert r.exit_code == 0, r.output
    est = json.loads(r.stdout)
    # one rewrite per item and round, none answered or judged (eliminated first): 1 request each, not 3
    assert est["projected_requests"] == 2 * si["generated"] and est["est_cost_usd"] > 0
    r = run_cli(*evol_args)
    assert r.exit_code == 0, r.output
    ev = json.loads(r.stdout)
    assert ev["rounds"] == 2 and ev["evolutions"] == 2 * ev["pool"]
    # the fake echoes the prompt, so every rewrite copies the template words and is eliminated
    assert ev["eliminated"] == {"copies_template_words": ev["evolutions"]}
    assert set(ev["pass_rate_by_round"]) == {"1", "2"}

    r = run_cli("generate", "self-instruct", *args, *teacher_flags(api))  # a rerun: all from the cache
    assert r.exit_code == 0, r.output
    assert "requests: 0" in r.stdout and "records_inserted: 0" in r.stdout


def test_estimate_runs_samples_that_the_real_run_then_replays(run_cli, api, tmp_path, fresh_db) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS)
    args = [
        "--seeds",
        str(seeds),
        "--n",
        "4",
        "--max-steps",
        "1",
        "--prompts-per-step",
        "3",
        *teacher_flags(api),
    ]
    r = run_cli("generate", "self-instruct", *args, "--estimate", "--json")
    assert r.exit_code == 0, r.output
    est = json.loads(r.stdout)
    assert est["sampled_requests"] >= 3 and est["est_cost_usd"] > 0 and est["cost_known"] is True
    sent = api.requests
    r = run_cli("generate", "self-instruct", *args, "--json")
    out = json.loads(r.stdout)
    assert out["cache_hits"] >= 3  # the three sampled task-list prompts were the real run's first ones
    assert api.requests == sent + out["requests"]
    # The run paid only for its new requests, but its records carry what every response cost, the replayed
    # samples the estimate bought included: what the records cost in all is what was bought.
    with sqlite3.connect(fresh_db) as db:
        bought = db.execute("SELECT sum(cost_usd) FROM completions").fetchone()[0]
        on_records = db.execute("SELECT sum(cost_usd) FROM records").fetchone()[0]
    assert out["cost_usd"] < bought and on_records == pytest.approx(bought)


def test_budget_cap_stops_the_run_cleanly_and_a_rerun_with_more_budget_continues(
    run_cli, api, tmp_path
) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS)
    args = [
        "--seeds",
        str(seeds),
        "--n",
        "3",
        "--max-steps",
        "2",
        "--prompts-per-step",
        "2",
        *teacher_flags(api),
    ]
    r = run_cli("generate", "self-instruct", *args, "--max-usd", "0.0009", "--concurrency", "1", "--json")
    assert r.exit_code == 4 and "budget cap $0.0009 reached" in r.stderr  # a budget stop: its own exit code
    sent = api.requests
    assert sent > 0
    r = run_cli("generate", "self-instruct", *args, "--max-usd", "1", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["cache_hits"] == sent and out["cost_usd"] < 1
    r = run_cli("runs", "--json")
    assert r.exit_code == 0
    statuses = [(run["kind"], run["status"]) for run in json.loads(r.stdout)]
    assert ("generate", "budget_stopped") in statuses and ("generate", "succeeded") in statuses


def test_bad_input_exits_2(run_cli, tmp_path) -> None:
    r = run_cli("generate", "evol", "--weight", "rhyme=2", "--provider", "local")
    assert r.exit_code == 2 and "unknown evol operation" in r.stderr
    r = run_cli("generate", "evol", "--from", "everything", "--provider", "local", "--estimate")
    assert r.exit_code == 2 and "expected run:ID" in r.stderr
    r = run_cli("generate", "evol", "--from", "method:import", "--provider", "local", "--estimate")
    assert r.exit_code == 2 and "no records to evolve" in r.stderr
    assert json.loads(run_cli("runs", "--json").stdout) == []  # refused before any run row was written
    openai = ["--provider", "openai", "--model", "gpt-4o-mini", "--api-key", "k", "--seeds", "builtin"]
    r = run_cli("generate", "self-instruct", *openai, "--option", "base_url=not-a-url")
    assert r.exit_code == 2 and "'not-a-url' is not an http:// or https:// URL" in r.stderr
    for flag in (["--max-tokens", "0"], ["--max-tokens", "-5"]):
        r = run_cli("generate", "self-instruct", *openai, *flag)
        assert r.exit_code == 2 and "--max-tokens: Input should be greater than 0 (got " in r.stderr
    assert json.loads(run_cli("runs", "--json").stdout) == []
    recipe = tmp_path / "r.yaml"
    recipe.write_text("n: 3\nbogus: 1\n")
    r = run_cli("generate", "self-instruct", "--recipe", str(recipe))
    assert r.exit_code == 2 and "unknown key 'bogus'" in r.stderr
    r = run_cli("generate", "self-instruct", "--provider", "openai", "--model", "m", "--api-key", "k")
    assert r.exit_code == 2 and "no seed tasks" in r.stderr


@pytest.mark.parametrize("method", ["self-instruct", "evol"])
@pytest.mark.parametrize("estimate", [[], ["--estimate"]])
def test_a_missing_api_key_is_refused_before_anything_is_written(
    run_cli, monkeypatch, method, estimate
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    source = ["--seeds", "builtin"] if method == "self-instruct" else []
    if method == "evol":
        assert run_cli("import", str(ROOT / "datagen" / "data" / "seed_tasks.jsonl")).exit_code == 0
        source = ["--from", "method:seed"]
    before = (
        json.loads(run_cli("stats", "--json").stdout)["records"],
        len(json.loads(run_cli("runs", "--json").stdout)),
    )
    r = run_cli("generate", method, *source, "--provider", "openai", "--model", "gpt-4o-mini", *estimate)
    assert r.exit_code == 2 and "set the environment variable OPENAI_API_KEY" in r.stderr
    after = (
        json.loads(run_cli("stats", "--json").stdout)["records"],
        len(json.loads(run_cli("runs", "--json").stdout)),
    )
    assert after == before  # no seed import, no run row


def test_prompt_rendering_with_a_missing_variable_fails_loudly() -> None:
    with pytest.raises(InputError, match=r"missing variables \['tasks'\]"):
        prompts.load("self_instruct/generate_tasks").render()
    with pytest.raises(InputError, match=r"missing variables \['second'\]"):
        prompts.load("evol_instruct/judge_equal").render(first="a")


def _snapshot(db: Path) -> tuple[list[tuple], list[tuple]]:
    con = sqlite3.connect(db)
    recs = con.execute(
        "SELECT r.uid, r.method, r.instruction, r.input, r.output, r.status, r.is_classification, r.round, "
        "p.uid FROM records r LEFT JOIN records p ON p.id = r.parent_id ORDER BY r.uid"
    ).fetchall()
    verdicts = con.execute(
        "SELECT r.uid, v.filter_name, v.passed, v.reason FROM verdicts v JOIN records r ON r.id = v.record_id "
        "ORDER BY r.uid, v.filter_name"
    ).fetchall()
    con.close()
    return recs, verdicts


def _completions(db: Path) -> int:
    try:
        con = sqlite3.connect(db, timeout=5)
        n = con.execute("SELECT count(*) FROM completions").fetchone()[0]
        con.close()
        return int(n)
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_sigkill_mid_run_and_rerun_yields_exactly_the_records_of_an_uninterrupted_run(tmp_path) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DATAGEN_PROGRESS": "0"}

    def cmd(db: Path, api: FakeAPI) -> list[str]:
        return [sys.executable, "-m", "datagen", "--db", str(db), "generate", "self-instruct", "--seeds", str(seeds),
                "--n", "40", "--max-steps", "6", "--prompts-per-step", "3", "--concurrency", "2",
                *teacher_flags(api), "--json"]  # fmt: skip

    whole, killed = tmp_path / "whole.db", tmp_path / "killed.db"
    with FakeAPI(latency_s=0.05) as api:  # one server: its URL is part of the cache key
        done = subprocess.run(cmd(whole, api), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        total_requests = json.loads(done.stdout)["requests"]

        proc = subprocess.Popen(
            cmd(killed, api), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 120
        while _completions(killed) < total_requests // 3 and time.monotonic() < deadline:
            assert proc.poll() is None, "the run finished before it could be killed"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        cached = _completions(killed)
        assert 0 < cached < total_requests
        rerun = subprocess.run(
            cmd(killed, api), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert rerun.returncode == 0, rerun.stderr
        summary = json.loads(rerun.stdout)
    assert summary["cache_hits"] >= cached
    assert summary["requests"] <= total_requests - cached + 2  # at most the calls in flight were resent
    assert _snapshot(killed) == _snapshot(whole)
    con = sqlite3.connect(killed)  # the resumed run took over what the killed run had written
    owners = con.execute("SELECT DISTINCT run_id FROM records WHERE method = 'self_instruct'").fetchall()
    con.close()
    assert owners == [(summary["run_id"],)]
    recs, verdicts = _snapshot(whole)
    assert sum(r[5] == "generated" for r in recs) >= 1 and sum(r[5] == "filtered_out" for r in recs) >= 10
    assert len(verdicts) >= len(recs) - 4  # every record but the seeds has its verdict


@pytest.mark.parametrize(
    ("sig", "code", "said"),
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")],
)
def test_sigterm_or_ctrl_c_marks_the_run_interrupted(tmp_path, sig, code, said) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS)
    db = tmp_path / "t.db"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DATAGEN_PROGRESS": "0"}
    with FakeAPI(latency_s=0.2) as api:
        cmd = [sys.executable, "-m", "datagen", "--db", str(db), "generate", "self-instruct", "--seeds", str(seeds),
               "--n", "40", "--max-steps", "6", "--prompts-per-step", "3", "--concurrency", "1", *teacher_flags(api)]  # fmt: skip
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 120
        while _completions(db) < 2 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == code and f"{said}; rerun the same command to resume" in err, err
    con = sqlite3.connect(db)
    status = con.execute("SELECT status, error FROM runs WHERE kind = 'generate'").fetchone()
    con.close()
    assert status == ("interrupted", "interrupted by the user")
