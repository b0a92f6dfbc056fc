"""Workers sharing one run, against the loopback teacher with latency and an rpm limit.

generate: one Self-Instruct run (``datagen generate self-instruct --workers N``, each process with
``--concurrency 2``) for N = 1, 2, 4, then N = 2 and 4 with one worker killed (SIGKILL) as soon as it has been
paid for an answer. filter: one ``datagen filter --workers N`` run (heuristics, an API adherence judge against the
same loopback teacher, dedup) over 400 records for N = 1, 2, 4, then N = 2 and 4 with one worker SIGKILLed while
it holds a claim.

For each: wall time, distinct answers per second, and the checks of tests/concurrency_kit.py: lost (answers the
server sent that are neither in the ledger nor explained by a kill), duplicated records (one origin, two records),
answers paid twice (``payments.stored`` false: paid while another process had cached the same request), and
runs left running.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_workers.py [--latency 0.2 --rpm 1200 --pg URL --only generate]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.concurrency_kit import NonceTeacher, Snapshot, env, generate_cmd, start
from tests.fake_api import FakeAPI
from tests.gen_fakes import write_seeds

SEEDS = [
    ("Give three tips for staying healthy during the winter months.", False),
    ("Decide whether the given movie review is positive or negative.", True),
    ("Translate the given English sentence into French.", False),
    ("Suggest a name for a bakery that sells only bread.", False),
]
RUN = ["--n", "80", "--max-steps", "5", "--prompts-per-step", "16", "--concurrency", "2"]


def fresh_db(tmp: Path, pg: str | None) -> str:
    if not pg:
        return f"sqlite:///{tmp / f'{uuid.uuid4().hex[:8]}.db'}"
    name = f"datagen_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(pg).set(database=name).render_as_string(hide_password=False)


def datagen(db: str, *args: str, cwd: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "datagen", *args], env=env(db), cwd=cwd, capture_output=True)
    assert r.returncode == 0, r.stderr


def checks(db: str, api: FakeAPI, killed: bool) -> dict[str, Any]:
    time.sleep(1.0)  # the workers close their runs
    snap = Snapshot.of(db)
    snap.check_provenance()  # raises on a duplicated record or a record that cites another answer
    served = sum(api.served.values())
    return {
        "answers": len(snap.completions),
        "served": served,
        "lost": served - len(snap.payments)
        if not killed
        else f"<= {served - len(snap.payments)} (in flight)",
        "duplicated_records": 0,
        "paid_twice": sum(not p.stored for p in snap.payments),
        "left_running": sum(r.status == "running" for r in snap.runs),
        "worker_runs": sum(r.kind == "worker" for r in snap.runs),
    }


def generate(
    tmp: Path, pg: str | None, workers: int, kill: bool, latency: float, rpm: float
) -> dict[str, Any]:
    db = fresh_db(tmp, pg)
    seeds = write_seeds(tmp / "seeds.jsonl", SEEDS)
    datagen(db, "import", str(seeds), cwd=tmp)
    with FakeAPI(latency_s=latency, rpm=rpm, burst=4, responder=NonceTeacher()) as api:
        cmd = generate_cmd(seeds, api.openai_url, *RUN, "--workers", str(workers), "--rpm", str(rpm))
        t0 = time.monotonic()
        proc = start(cmd, db, cwd=tmp)
        if kill:
            victim = _first_paid_worker(db, proc)
            if victim:
                os.kill(victim, signal.SIGKILL)
        out, err = proc.communicate(timeout=600)
        wall = time.monotonic() - t0
        assert proc.returncode == 0, err
        row = {"workers": workers, "killed": kill, "wall_s": round(wall, 1)}
        row.update(checks(db, api, kill))
        row["answers_per_s"] = round(row["answers"] / wall, 2)
        row["rate_limited_429"] = api.rate_limited
        row["records"] = json.loads(out)["records_inserted"]
    return row


def _first_paid_worker(db: str, proc: subprocess.Popen[str]) -> int | None:
    engine = create_engine(db)
    try:
        while proc.poll() is None:
            with engine.connect() as conn:
                pid = conn.execute(
                    text(
                        "SELECT r.pid FROM runs r JOIN payments p ON p.run_id = r.id WHERE r.kind = 'worker' LIMIT 1"
                    )
                ).scalar()
            if pid:
                return int(pid)
            time.sleep(0.05)
        return None
    finally:
        engine.dispose()


JUDGE = '{"verdict": "yes", "score": 0.9, "rationale": "it does what was asked"}'
FILTER_RECORDS = 400


def filters(
    tmp: Path, pg: str | None, workers: int, kill: bool, latency: float, rpm: float
) -> dict[str, Any]:
    """One ``datagen filter --workers N`` run: heuristics, an API adherence judge (the loopback teacher, each
    process at concurrency 2) and dedup (serialized at the end) over 400 imported records in 10 batches."""
    db = fresh_db(tmp, pg)
    data = tmp / "records.jsonl"
    rows = [{"instruction": f"Describe the number {i} to a child in three short sentences.",
             "output": f"The number {i} comes right after {i - 1}. It is one more than {i - 1}. You can count to it."}
            for i in range(FILTER_RECORDS)]  # fmt: skip
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    datagen(db, "import", str(data), "--format", "jsonl", cwd=tmp)
    with FakeAPI(latency_s=latency, rpm=rpm, burst=4, responder=lambda _u: JUDGE) as api:
        judge = (f"adherence={{judge: {{provider: openai, model: gpt-4o-mini, options: {{base_url: '{api.openai_url}'}},"
                 " exec: {concurrency: 2}}}")  # fmt: skip
        cmd = [sys.executable, "-m", "datagen", "filter", "--filters", "heuristics", "--filters", "adherence",
               "--filters", "dedup", "--settings", judge, "--batch-size", "40", "--workers", str(workers),
               "--histogram-png", "", "--json"]  # fmt: skip
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, env={**env(db), "OPENAI_API_KEY": "sk-test"}, cwd=tmp, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        killed = _kill_a_claiming_worker(db, proc) if kill else None
        out, err = proc.communicate(timeout=900)
        wall = time.monotonic() - t0
        assert proc.returncode == 0, err
        served = sum(api.served.values())
    engine = create_engine(db)
    with engine.connect() as conn:
        per = dict(
            conn.execute(text("SELECT filter_name, count(*) FROM verdicts GROUP BY filter_name")).all()
        )
        twice = conn.execute(text("SELECT count(*) FROM (SELECT record_id, filter_name FROM verdicts "
                                  "GROUP BY record_id, filter_name HAVING count(*) > 1) d")).scalar_one()  # fmt: skip
        paid = conn.execute(text("SELECT count(*), count(DISTINCT key) FROM payments")).one()
        running = conn.execute(text("SELECT count(*) FROM runs WHERE status = 'running'")).scalar_one()
        retried = conn.execute(text("SELECT count(*) FROM work_items WHERE attempts > 1")).scalar_one()
    engine.dispose()
    summary = json.loads(out)
    return {"workers": workers, "killed": killed is not None, "wall_s": round(wall, 1), "records": FILTER_RECORDS,
            "judged_per_s": round(per.get("adherence", 0) / wall, 2), "kept": summary["kept"],
            "lost": FILTER_RECORDS - min(per.get(n, 0) for n in ("heuristics", "adherence", "dedup")),
            "judged_twice": twice, "answers_served": served, "paid_twice": paid[0] - paid[1],
            "items_retried": retried, "left_running": running}  # fmt: skip


def _kill_a_claiming_worker(db: str, proc: subprocess.Popen[str]) -> int | None:
    """SIGKILL the first spawned worker seen holding a claim (its run id differs from the filter run's)."""
    engine = create_engine(db)
    sql = ("SELECT r.pid FROM work_items w JOIN runs r ON r.id = w.worker_run_id "
           "WHERE w.status = 'claimed' AND r.kind = 'worker' LIMIT 1")  # fmt: skip
    try:
        while proc.poll() is None:
            with engine.connect() as conn:
                pid = conn.execute(text(sql)).scalar()
            if pid:
                os.kill(int(pid), signal.SIGKILL)
                return int(pid)
            time.sleep(0.05)
        return None
    finally:
        engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--rpm", type=float, default=1200)
    ap.add_argument("--pg", default=None, help="an admin PostgreSQL URL (a database is created per case)")
    ap.add_argument("--only", choices=["generate", "filter"], default=None)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for workers, kill in [(1, False), (2, False), (4, False), (2, True), (4, True)]:
            if args.only != "filter":
                print(json.dumps(generate(tmp, args.pg, workers, kill, args.latency, args.rpm)), flush=True)
        for workers, kill in [(1, False), (2, False), (4, False), (2, True), (4, True)]:
            if args.only != "generate":
                print(json.dumps(filters(tmp, args.pg, workers, kill, args.latency, args.rpm)), flush=True)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
