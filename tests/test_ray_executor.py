"""``filter --executor ray`` on one local Ray instance (2 CPUs) shared by this module: the same verdicts as the
in-process chain, a driver killed mid-run resumed without duplicates, and the install message without Ray."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from datagen.store import open_store
from filters.chain import run_filters
from filters.config import FilterConfig
from tests.filter_fixtures import LONG_OUTPUT, add_records, statuses, verdicts
from tests.ray_local import actor_pids

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    from tests.finetune_tiny import make_tiny_model

    return str(make_tiny_model(tmp_path_factory.mktemp("tiny") / "model"))


def rows(n: int) -> list[dict[str, Any]]:
    """Records that each filter has something to say about: heuristics, toxicity, perplexity, dedup."""
    out = []
    for i in range(n):
        kind = i % 6
        if kind == 0:
            out.append({"instruction": f"Explain step {i} of how plants make food.", "output": LONG_OUTPUT})
        elif kind == 1:
            out.append({"instruction": "Explain how plants make food.", "output": LONG_OUTPUT})  # duplicates
        elif kind == 2:
            out.append({"instruction": "Draw a picture of a cat for me.", "output": "Here is the image."})
        elif kind == 3:
            out.append(
                {
                    "instruction": f"Say something about item {i}.",
                    "output": f"Plants make food, you stupid bastard, from sunlight ({i}).",
                }
            )
        elif kind == 4:
            out.append(
                {"instruction": f"Describe the number {i}.", "output": f"Xq zrt {i} vlop mnaqe brutz klen."}
            )
        else:
            out.append(
                {
                    "instruction": f"Name a colour for case {i}.",
                    "output": f"Blue is a colour; case {i} likes it.",
                }
            )
    return out


def config(tiny: str, threshold: float, **kw: Any) -> FilterConfig:
    return FilterConfig(
        **{
            "filters": ["heuristics", "length", "toxicity", "perplexity", "dedup"],
            "settings": {"perplexity": {"model": tiny, "threshold": threshold, "device": "cpu"}},
            "histogram_png": None,
            **kw,
        }
    )


def judged(store: Any) -> dict[tuple[int, str], tuple[bool, str, float | None]]:
    return {k: (v.passed, v.reason, v.score) for k, v in verdicts(store).items()}


def median_perplexity(tiny: str, n: int) -> float:
    from filters.base import RecordView
    from filters.perplexity import PerplexityFilter, PerplexitySettings

    views = [RecordView(i, r["instruction"], "", r["output"]) for i, r in enumerate(rows(n))]
    values = sorted(s.value for s in PerplexityFilter(PerplexitySettings(model=tiny)).score(views))
    return values[len(values) // 2]


def vectors(db: Path) -> dict[int, Any]:
    import numpy as np

    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT record_id, vector FROM embeddings").fetchall()
    return {rid: np.frombuffer(v, dtype=np.float32) for rid, v in rows}


def test_ray_gives_the_in_process_verdicts(
    store: Any,
    fresh_db: Path,
    tmp_path: Path,
    ray_local: tuple[str, str],
    tiny: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numpy as np

    from filters import dedup

    threshold = median_perplexity(tiny, 48)  # about half of what reaches perplexity fails it
    add_records(store, rows(48))
    other = open_store(str(tmp_path / "ray.db"))
    add_records(other, rows(48))
    local = run_filters(store, config(tiny, threshold, batch_size=10))
    embedded_here: list[str] = []  # texts the driver embeds itself: none, the actors embed dedup's records

    def counted(model: Any, texts: list[str], batch_size: int = 64) -> Any:
        embedded_here.extend(texts)
        return real_encode(model, texts, batch_size)

    real_encode = dedup.encode
    from filters.perplexity import PerplexityFilter

    with monkeypatch.context() as m:
        m.setattr(dedup, "encode", counted)
        # what scored a record is what the actor resolved, not the driver (dtype auto on another device)
        m.setattr(PerplexityFilter, "backend", property(lambda self: "resolved on the driver"))
        remote = run_filters(other, config(tiny, threshold, batch_size=10, executor="ray", ray_batch_size=4))
    assert embedded_here == []
    backends = {v.details["backend"] for (_, name), v in verdicts(other).items() if name == "perplexity"}
    assert backends == {f"{tiny}/float32"} and remote["filters"]["perplexity"]["backend"] == f"{tiny}/float32"
    here, there = vectors(fresh_db), vectors(tmp_path / "ray.db")
    assert set(here) == set(there) and len(here) == local["filters"]["dedup"]["scored"] > 0
    assert all(np.allclose(here[k], there[k], atol=1e-5) for k in here)
    a, b = judged(store), judged(other)
    assert {k: v[:2] for k, v in a.items()} == {k: v[:2] for k, v in b.items()}
    assert all(v[2] == pytest.approx(b[k][2], rel=1e-4) for k, v in a.items())
    assert statuses(store) == statuses(other)
    reasons = {v[1] for v in a.values()}
    assert {"needs_non_text_io", "toxic", "perplexity_too_high", "exact_duplicate", "ok"} <= reasons
    counts = ("scored", "passed", "failed", "failed_by_reason")
    for name, st in local["filters"].items():
        assert {c: st[c] for c in counts} == {c: remote["filters"][name][c] for c in counts}, name
    assert (remote["executor"], remote["kept"], remote["dropped"]) == ("ray", local["kept"], local["dropped"])
    assert remote["models"][tiny] == "cpu float32"  # reported by the actors
    other.close()


def test_a_killed_driver_resumes_without_duplicates(
    store: Any, fresh_db: Path, ray_local: tuple[str, str], tiny: str
) -> None:
    n = 600
    add_records(store, rows(n))
    env = {**os.environ, "DATAGEN_DB": str(fresh_db), "PYTHONPATH": str(ROOT)}
    settings = f"perplexity={{model: '{tiny}', threshold: 1.0e9, device: cpu}}"
    args = [
        "filter",
        "--executor",
        "ray",
        "--address",
        ray_local[0],
        "--batch-size",
        "10",
        "--ray-batch-size",
        "5",
    ]
    args += ["--only", "heuristics,length,perplexity", "--settings", settings, "--no-png"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "datagen", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    done_at_kill = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        with sqlite3.connect(fresh_db) as db:
            done_at_kill = db.execute("SELECT count(*) FROM records WHERE status != 'generated'").fetchone()[
                0
            ]
        if done_at_kill:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode() if proc.stderr else ""
    with sqlite3.connect(fresh_db) as db:
        done = db.execute("SELECT count(*) FROM records WHERE status != 'generated'").fetchone()[0]
    assert 0 < done_at_kill <= done < n
    summary = run_filters(
        store,
        config(tiny, 1.0e9, batch_size=10, executor="ray", filters=["heuristics", "length", "perplexity"]),
    )
    assert summary["records"] == n - done  # only what was left
    v = verdicts(store)
    with sqlite3.connect(fresh_db) as db:
        rows_per_key = db.execute(
            "SELECT max(c) FROM (SELECT count(*) AS c FROM verdicts GROUP BY record_id, filter_name)"
        ).fetchone()[0]
        interrupted = db.execute(
            "SELECT count(*) FROM runs WHERE kind = 'filter' AND status = 'interrupted'"
        ).fetchone()[0]
    assert rows_per_key == 1
    assert all(s != "generated" for s in statuses(store).values())
    assert {rid for rid, _ in v} == set(statuses(store))  # every record judged
    assert interrupted == 1


def test_a_lost_actor_is_replaced_and_nothing_is_judged_twice(
    store: Any, fresh_db: Path, ray_local: tuple[str, str], tiny: str
) -> None:
    import threading

    n = 300
    add_records(store, rows(n))
    cfg = config(tiny, 1.0e9, batch_size=10, executor="ray", ray_batch_size=5, ray_actors=2)
    cfg = cfg.model_copy(update={"filters": ["heuristics", "length", "perplexity"]})
    result: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: result.update(run_filters(store, cfg)))
    worker.start()
    killed = None
    deadline = time.monotonic() + 240
    while killed is None and worker.is_alive() and time.monotonic() < deadline:
        with sqlite3.connect(fresh_db) as db:
            done = db.execute("SELECT count(*) FROM records WHERE status != 'generated'").fetchone()[0]
        pids = actor_pids(ray_local[1], "ScoringActor")
        if done and pids:
            killed = pids[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    worker.join(timeout=300)
    assert killed is not None and done < n
    assert result["records"] == n
    with sqlite3.connect(fresh_db) as db:
        per_key = db.execute(
            "SELECT max(c), count(*) FROM (SELECT count(*) AS c FROM verdicts GROUP BY record_id, filter_name)"
        ).fetchone()
    assert per_key[0] == 1
    assert all(s != "generated" for s in statuses(store).values())


def test_without_ray_the_install_command_is_named(store: Any, run_cli: Any, ray_missing: None) -> None:
    add_records(store, rows(2))
    res = run_cli("filter", "--executor", "ray", "--no-png")
    assert res.exit_code == 2
    assert "filter --executor ray needs Ray: run `pip install 'datagen[ray]'`" in res.output
    with store.session() as s:
        from sqlalchemy import func, select

        from datagen.store.models import Run

        assert s.scalar(select(func.count()).select_from(Run).where(Run.kind == "filter")) == 0
    assert verdicts(store) == {}
