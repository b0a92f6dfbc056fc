"""The whole pipeline end to end on a tiny recipe, and its resumption.

The teacher is the real openai SDK against the loopback API (``tests/fake_api.py``) with a scripted responder;
filters, review, dataset, export, training (LoRA on a tiny 2-layer model) and scoring are the real components.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from datagen.store import Dataset, DatasetItem, Record, Run, Score, TrainRun, open_store
from tests.fake_api import FakeAPI
from tests.finetune_tiny import make_tiny_model
from tests.gen_fakes import write_seeds

TOPICS = ["tides", "volcanoes", "compound interest", "photosynthesis", "binary search", "the printing press",
          "vaccines", "glaciers", "supply and demand", "the moon landing", "recursion", "coral reefs"]  # fmt: skip


ASKS = ["Explain {t} to a curious teenager in one short paragraph.", "List three surprising facts about {t}.",
        "Write a limerick whose subject is {t}.", "Compare {t} with something from everyday cooking.",
        "What question would a skeptic ask about {t}, and how would you answer it?",
        "Summarize the history of {t} for a busy commuter."]  # fmt: skip


def teacher() -> object:
    """A scripted teacher: new task lists, instances, rewrites, judgements and answers by prompt kind."""
    counter = itertools.count()

    def reply(prompt: str) -> str:
        if prompt.startswith("Come up with a series of tasks"):
            k = next(counter)
            lines = [
                ASKS[(k * 3 + i) % len(ASKS)].format(t=TOPICS[(k * 5 + i) % len(TOPICS)]) for i in range(3)
            ]
            return lines[0] + "\n" + "\n".join(f"{10 + i}. {line}" for i, line in enumerate(lines[1:]))
        if prompt.startswith("Can the following task"):
            return "No"
        if prompt.startswith("I want you to act as a Prompt"):
            given = re.search(r"Prompt#:\n(.*?)\n\n#", prompt, re.S)
            base = given.group(1) if given else "Describe a river."
            return f"{base} Answer in exactly three numbered steps and name one common misconception."
        if prompt.startswith("Here are two Instructions"):
            return "Not Equal"
        if "Input:" in prompt or "Example" in prompt:
            return "Example 1\nInput: \nOutput: " + answer(prompt)
        return answer(prompt)

    def answer(prompt: str) -> str:
        topic = next((t for t in TOPICS if t in prompt), "the topic")
        return (
            f"Here is a clear explanation of {topic}. First, it starts with a simple idea that most people "
            f"already know from daily life. Second, {topic} follows rules that scientists and teachers describe "
            "with careful observations and simple models. Third, a common misconception is that it happens "
            "randomly, while in fact it follows patterns that can be measured and predicted."
        )

    return reply


SECRET = "sk-test-0123456789abcdef"


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI(responder=teacher()) as a:  # type: ignore[arg-type]
        yield a


def recipe(tmp_path: Path, api: FakeAPI) -> Path:
    tiny = make_tiny_model(tmp_path / "tiny")
    seeds = write_seeds(tmp_path / "seeds.jsonl", [
        ("Give three tips for staying healthy during the winter months.", False),
        ("Describe how a bicycle gear system makes climbing hills easier.", False),
        ("Suggest a name for a bakery that sells only sourdough bread.", False),
    ])  # fmt: skip
    teacher_cfg = {"provider": "openai", "model": "fake-teacher", "options": {"base_url": api.openai_url},
                   "api_key": SECRET, "exec": {"concurrency": 2, "max_retries": 1}}  # fmt: skip
    data = {
        "name": "tiny",
        "seeds": str(seeds),
        "output_dir": str(tmp_path / "out" / "{name}"),
        "export_formats": ["jsonl", "chatml"],
        "self_instruct": {**teacher_cfg, "n": 6, "prompts_per_step": 2, "max_steps": 3},
        "evol": {**teacher_cfg, "rounds": 1, "limit": 8},
        "filter": {"filters": ["heuristics", "length", "dedup"]},
        "review": {"fraction": 1.0, "min_count": 1, "mode": "human"},
        "dataset": {"acceptance_floor": 0.0, "cluster_threshold": 0.999},
        "train": {"base_model": str(tiny), "method": "lora", "max_steps": 2, "max_length": 128,
                  "per_device_train_batch_size": 2, "effective_batch_size": 2, "gradient_checkpointing": False,
                  "precision": "fp32"},
        "score": {"judge": str(tiny), "max_examples": 2, "max_new_tokens": 8, "batch_size": 2},
    }  # fmt: skip
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.slow
def test_pipeline_end_to_end_then_resume(tmp_path, fresh_db, api, run_cli) -> None:
    server = api
    path = recipe(tmp_path, server)

    # Interactive review without a terminal stops the run with a clear message; the rerun continues from there.
    r = run_cli("pipeline", "--recipe", str(path), "--json")
    assert r.exit_code == 2 and "review is interactive" in r.stderr
    store = open_store(str(fresh_db))
    with store.session() as s:
        pipe = s.scalars(select(Run).where(Run.kind == "pipeline")).one()
        assert pipe.status == "failed"
        assert set(pipe.counters["stages"]) == {"seeds", "self_instruct", "evol", "filter"}
    requests_before = server.requests

    r = run_cli("pipeline", "--recipe", str(path), "--review", "auto", "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert server.requests == requests_before  # nothing generated twice
    assert "[self_instruct] done earlier" in r.stderr and "[review] ..." in r.stderr
    stages = result["stages"]
    assert list(stages) == ["seeds", "self_instruct", "evol", "filter", "review", "dataset", "export", "train",
                            "score"]  # fmt: skip
    assert stages["self_instruct"]["generated"] > 0 and stages["evol"]["generated"] > 0

    with store.session() as s:
        assert s.scalars(select(Run.id).where(Run.kind == "pipeline")).all() == [result["run_id"]]
        configs = s.scalars(select(Run.config)).all()
        assert not any(SECRET in json.dumps(c) for c in configs)  # API keys are never stored
        pipe_cfg = s.get(Run, result["run_id"]).config
        assert (
            pipe_cfg["train"]["lora_r"] == 16 and pipe_cfg["filter"]["policy"] == "all"
        )  # resolved defaults
        ds = s.scalars(select(Dataset)).one()
        assert (ds.name, ds.version) == ("tiny", 1)
        # the split clustering reuses the prompt embeddings the dedup filter stored: nothing is embedded twice
        assert ds.source["embeddings"]["computed_vectors"] == 0 and ds.source["embeddings"]["stored_vectors"]
        items = s.execute(
            select(Record.method, DatasetItem.split).join(DatasetItem, DatasetItem.record_id == Record.id)
        ).all()
        assert items and {m for m, _ in items} <= {"self_instruct", "evol_instruct"}  # seeds are inputs only
        seeds = s.scalars(select(Record).where(Record.method == "seed")).all()
        assert len(seeds) == 3 and {r.status for r in seeds} == {"generated"}  # the pipeline's own copy
        assert {sp for _, sp in items} >= {"train"}
        evolved = s.scalars(select(Record).where(Record.method == "evol_instruct")).all()
        assert all(e.parent_id is not None and e.operation and e.round == 1 for e in evolved)
        tr = s.scalars(select(TrainRun)).one()
        assert tr.status == "succeeded" and Path(tr.adapter_path or "").exists()
        metrics = set(s.scalars(select(Score.metric).where(Score.train_run_id == tr.id)).all())
        assert metrics - {"win_rate"} == {"perplexity", "rouge_l", "embedding_similarity", "exact_match",
                                          "hit_max_new_tokens", "judge_check"}  # fmt: skip
    with store.session() as s:
        score_run = s.scalars(select(Run.id).where(Run.kind == "score")).one()
    shown = run_cli("runs", "--id", str(score_run))
    assert "perplexity: base" in shown.stdout and "rouge_l: base" in shown.stdout
    for fmt in ("jsonl", "chatml"):
        assert (Path(stages["export"][fmt]) / "README.md").exists()
    assert Path(stages["score"]["report"]).exists()

    # A rerun of a finished pipeline does no work at all.
    r = run_cli("pipeline", "--recipe", str(path), "--review", "auto")
    assert r.exit_code == 0, r.output
    assert r.stderr.count("done earlier") == 9 and "base vs tuned" in r.stdout
    assert server.requests == requests_before
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(TrainRun)) == 1
        assert s.scalar(select(func.count()).select_from(Dataset)) == 1


def test_unknown_key_in_a_section_fails_before_any_work(tmp_path, fresh_db, run_cli) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("name: x\nfilter:\n  filterz: [heuristics]\n")
    r = run_cli("pipeline", "--recipe", str(path))
    assert r.exit_code == 2
    assert "unknown key 'filterz'" in r.stderr and "section 'filter'" in r.stderr
    store = open_store(str(fresh_db))
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Run)) == 0
