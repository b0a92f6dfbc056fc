"""Progress you can watch: heartbeat lines when piped, live bars in a terminal, ``--quiet``, ``--log-json``."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from datagen import progress
from datagen.generation.config import EvolConfig
from datagen.generation.evol_instruct import run_evol
from tests.fake_api import FakeAPI
from tests.gen_fakes import ScriptedProvider, write_seeds
from tests.test_evol_instruct import seed_pool, teacher
from tests.test_generate_cli import SEEDS, echo_with_a_new_task, teacher_flags

BEAT = re.compile(r"^\[datagen\] (.*)$", re.M)


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k != "DATAGEN_PROGRESS"}
    return {**base, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **extra}


def datagen(*args: str, cwd: Path, **kw: Any) -> subprocess.CompletedProcess[str]:
    """The command in a subprocess, run from ``cwd`` (a test's folder: nothing lands in the working tree)."""
    return subprocess.run([sys.executable, "-m", "datagen", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, **kw)  # fmt: skip


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def self_instruct(db: Path, seeds: Path, api: FakeAPI, *before: str) -> list[str]:
    return ["--db", str(db), *before, "generate", "self-instruct", "--seeds", str(seeds), "--n", "6",
            "--max-steps", "3", "--prompts-per-step", "3", "--concurrency", "1", *teacher_flags(api)]  # fmt: skip


def test_piped_runs_write_heartbeat_lines_with_counts_and_log_json_events(tmp_path) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS)
    db, log = tmp_path / "t.db", tmp_path / "events.jsonl"
    with FakeAPI(latency_s=0.05, responder=echo_with_a_new_task) as api:
        gen = datagen(*self_instruct(db, seeds, api, "--log-json", str(log)), "--json",
                      env=env(DATAGEN_HEARTBEAT_S="0.1"), cwd=tmp_path)  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    summary = json.loads(gen.stdout)  # stdout stays the result alone
    beats = BEAT.findall(gen.stderr)
    counted = [
        b
        for b in beats
        if re.match(r"generate \(self-instruct step \d\): \d/6 instructions, .*requests \d+/\d+", b)
    ]
    assert len(counted) >= 2, gen.stderr
    total = summary["requests"] + summary["cache_hits"]
    tokens = summary["prompt_tokens"] + summary["completion_tokens"]
    assert beats[-1] == (
        f"generate succeeded in {beats[-1].split(' in ')[1].split(':')[0]}: {summary['instructions_accepted']}/6 "
        f"instructions, {beats[-1].split(', ')[1]}, requests {total}/{total}, {tokens:,} tok, ${summary['cost_usd']:.4f}"
    )

    fil = datagen("--db", str(db), "--log-json", str(log), "filter", "--filters", "heuristics,length",
                  "--batch-size", "2", "--json", env=env(DATAGEN_HEARTBEAT_S="0.1"), cwd=tmp_path)  # fmt: skip
    assert fil.returncode == 0, fil.stderr
    beats = BEAT.findall(fil.stderr)
    n = json.loads(fil.stdout)["records"]
    assert n >= 3
    assert any(
        b.startswith("filter (loading the filters): running ") for b in beats
    )  # silent work still beats
    assert re.fullmatch(
        rf"filter succeeded in \d+s: {n}/{n} records, [\d.]+ rec/s, heuristics {n}/{n}, length {n}/{n}",
        beats[-1],
    ), beats[-1]

    got = events(log)
    for e in got:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["ts"])
    by_stage: dict[tuple[str, int], list[str]] = {}
    for e in got:
        by_stage.setdefault((e["stage"], e["run_id"]), []).append(e["event"])
    stages = sorted(by_stage)
    assert [s for s, _ in stages] == ["filter", "generate", "import"]
    for key, kinds in by_stage.items():
        assert kinds[0] == "start" and kinds[-1] == "end" and "progress" in kinds, (key, kinds)
    gen_end = next(e for e in got if e["stage"] == "generate" and e["event"] == "end")
    assert gen_end["run_id"] == summary["run_id"] and gen_end["outcome"] == "succeeded"
    assert gen_end["meters"]["requests"]["done"] == gen_end["meters"]["requests"]["total"] == total
    assert gen_end["fields"] == {"tokens": tokens, "cost_usd": pytest.approx(summary["cost_usd"], abs=1e-6)}
    fil_end = next(e for e in got if e["stage"] == "filter" and e["event"] == "end")
    assert {k: (m["done"], m["total"]) for k, m in fil_end["meters"].items()} == {
        "records": (n, n), "heuristics": (n, n), "length": (n, n)
    }  # fmt: skip


def test_quiet_silences_progress_and_notes_but_not_results_or_errors(tmp_path) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS)
    db = tmp_path / "t.db"
    with FakeAPI(latency_s=0.05, responder=echo_with_a_new_task) as api:
        quiet = datagen(
            *self_instruct(db, seeds, api, "--quiet"), env=env(DATAGEN_HEARTBEAT_S="0.05"), cwd=tmp_path
        )
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert "instructions_accepted:" in quiet.stdout
    bad = datagen(
        "--db",
        str(db),
        "--quiet",
        "generate",
        "evol",
        "--from",
        "run:999",
        "--provider",
        "local",
        cwd=tmp_path,
    )
    assert (
        bad.returncode == 2
        and bad.stderr == "error: --from run:999: run 999 does not exist (see `datagen runs`)\n"
    )


def test_an_unwritable_log_json_is_exit_2_before_any_work(tmp_path) -> None:
    db = tmp_path / "t.db"
    r = datagen(
        "--db",
        str(db),
        "--log-json",
        str(tmp_path / "no" / "such" / "events.jsonl"),
        "db",
        "upgrade",
        cwd=tmp_path,
    )
    assert (
        r.returncode == 2 and r.stderr.startswith("error: --log-json ") and "cannot write there" in r.stderr
    )
    assert not db.exists()


def test_a_live_bar_is_drawn_in_a_real_terminal(tmp_path) -> None:
    import pty

    data = tmp_path / "rows.jsonl"
    data.write_text(
        "".join(json.dumps({"instruction": f"task {i}", "output": "x" * 50}) + "\n" for i in range(3000))
    )
    pid, fd = pty.fork()
    if pid == 0:  # the child: datagen with the pseudo-terminal as stdin, stdout and stderr
        os.chdir(tmp_path)
        os.execve(sys.executable, [sys.executable, "-m", "datagen", "--db", str(tmp_path / "t.db"), "import",
                                   str(data)], env(TERM="xterm", COLUMNS="120"))  # fmt: skip
    out = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "import KiB" in text and "━" in text and "records 3,000" in text, text
    assert "[datagen]" not in text  # bars, not heartbeat lines
    assert re.search(r"\d+/\d+", text)


def test_evol_bar_total_is_the_round_s_requests(store, tmp_path) -> None:
    seed_pool(tmp_path, store)
    fake = ScriptedProvider(teacher)
    cfg = EvolConfig(source="method:import", rounds=2, weights={"add_constraints": 1.0})
    log = tmp_path / "events.jsonl"
    progress.configure(log_json=str(log))
    try:
        summary = run_evol(store, cfg, provider=fake).summary
    finally:
        progress.configure()
    last: dict[str, dict[str, Any]] = {}  # the round's last count of its requests
    for e in events(log):
        if e["stage"] == "generate" and e["event"] == "progress" and e["status"]:
            last[e["status"]] = e["meters"]["requests"]
    # round 1: 2 rewrites + 2 x (answer, verdict); round 2: 2 rewrites, one eliminated before it is answered
    # (it copies the template's words), the other answered and judged (the answer is a replay: counted too)
    assert {k: (m["done"], m["total"]) for k, m in last.items()} == {
        "evol-instruct round 1/2": (6, 6),
        "evol-instruct round 2/2": (4, 4),
    }
    assert summary["requests"] + summary["cache_hits"] == 6 + 4
    assert len(fake.history) == summary["requests"]


def test_meters_heartbeat_text_and_a_stage_that_fails() -> None:
    with pytest.raises(RuntimeError), progress.stage("filter", run_id=7) as st:
        records = progress.meter("records", total=1000)
        progress.meter("perplexity", total=1000).advance(120)
        records.advance(340)
        st.started = records.started = time.monotonic() - 170  # 340 records in 170 s: 2.0 rec/s
        progress.note(tokens=1234, cost_usd=0.5)
        assert re.fullmatch(
            r"filter: 340/1,000 records, 2\.0 rec/s, eta 5m(2\d|3\d)s, perplexity 120/1,000, 1,234 tok, \$0\.5000",
            st.line(),
        ), st.line()
        raise RuntimeError("boom")
    assert progress.current() is None
    progress.meter("records").advance(5)  # outside any stage: counts nothing, fails nothing


def test_the_heartbeat_thread_never_delays_exit(tmp_path) -> None:
    """A piped run that is terminated while a heartbeat is due exits at once (143), and says so."""
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS)
    with FakeAPI(latency_s=0.3, responder=echo_with_a_new_task) as api:
        proc = subprocess.Popen([sys.executable, "-m", "datagen", *self_instruct(tmp_path / "t.db", seeds, api)],
                                cwd=tmp_path, env=env(DATAGEN_HEARTBEAT_S="0.2"), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        assert proc.stderr is not None
        for line in proc.stderr:  # wait for the first heartbeat
            if line.startswith("[datagen] generate"):
                break
        sent = time.monotonic()
        proc.terminate()
        _, err = proc.communicate(timeout=10)
        took = time.monotonic() - sent
    assert proc.returncode == 143 and "terminated; rerun the same command to resume" in err, err
    assert took < 2.0


def test_training_and_scoring_report_their_counts(store, tmp_path) -> None:
    """Training counts steps with the loss beside them (a TrainerCallback), scoring counts each model's
    answers and the judge's pairs: the ``end`` events carry the final counts."""
    from finetune.config import ScoreConfig, TrainConfig
    from finetune.score import score
    from finetune.trainer import train
    from tests.finetune_tiny import make_tiny_model, seed_dataset

    model = make_tiny_model(tmp_path / "tiny")
    seed_dataset(store, splits=(4, 1, 3))
    log = tmp_path / "events.jsonl"
    progress.configure(log_json=str(log))
    try:
        tcfg = TrainConfig(dataset="tiny@1", base_model=str(model), method="lora", max_steps=2,
                           per_device_train_batch_size=2, effective_batch_size=2, learning_rate=1e-2,
                           precision="fp32", max_length=128, logging_steps=1)  # fmt: skip
        tr_id = train(store, tcfg)
        scfg = ScoreConfig(train_run=tr_id, max_new_tokens=3, judge={"model": str(model)}, batch_size=2)
        out = score(store, scfg)
    finally:
        progress.configure()
    ends = {e["stage"]: e for e in events(log) if e["event"] == "end"}
    assert {k: e["outcome"] for k, e in ends.items()} == {"train": "succeeded", "score": "succeeded"}
    train_end = ends["train"]
    assert train_end["meters"]["steps"]["done"] == train_end["meters"]["steps"]["total"] == 2
    assert isinstance(train_end["fields"]["loss"], float) and train_end["fields"]["epoch"] > 0
    counts = {k: (m["done"], m["total"]) for k, m in ends["score"]["meters"].items()}
    n = out["n"]
    judged = {"judged": (2 * n, 2 * n)} if out["win_rate"] is not None else {}
    assert counts == {"answers": (2 * n, 2 * n), **judged}  # the base's answers, then the tuned model's


def test_dataset_creation_and_export_report_their_steps(store, tmp_path) -> None:
    from datagen.export.run import export_dataset
    from tests.test_export import _dataset

    log = tmp_path / "events.jsonl"
    progress.configure(log_json=str(log))
    try:
        (name, version), _ = _dataset(store)
        export_dataset(store, name, version, "jsonl", tmp_path / "out")
    finally:
        progress.configure()
    ends = {e["stage"]: e for e in events(log) if e["event"] == "end"}
    assert {k: (e["outcome"], e["meters"]["steps"]["done"], e["meters"]["steps"]["total"]) for k, e in ends.items()
            if k in ("dataset", "export")} == {"dataset": ("succeeded", 4, 4), "export": ("succeeded", 3, 3)}  # fmt: skip
    statuses = [e["status"] for e in events(log) if e["stage"] == "dataset" and e["event"] == "progress"]
    assert statuses[-1] == "splitting and writing the version"


def test_a_pipeline_s_stages_get_no_rate_or_eta() -> None:
    with progress.stage("pipeline") as st:
        stages = progress.meter("stages", total=9, paced=False)
        stages.advance(2)
        st.started = stages.started = time.monotonic() - 600
        assert st.line() == "pipeline: 2/9 stages" and stages.snapshot()["eta_s"] is None


def test_a_slow_rate_reads_in_seconds_per_unit() -> None:
    with progress.stage("train") as st:
        steps = progress.meter("steps", total=15)
        steps.advance(3)
        st.started = steps.started = time.monotonic() - 60
        assert st.line().startswith("train: 3/15 steps, 20.0 s/step, eta 4m0"), st.line()
