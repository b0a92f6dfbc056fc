"""Chat text in generated data: Self-Instruct and Evol-Instruct against a teacher that writes like a chat model.

The loopback API (tests/fake_api.py) answers as tests/chat_teacher.py does: ``--share`` of its replies come
with preambles, markdown, sign-offs, run-ons, or cut by the length limit; outputs hold "For example, ...";
some answers are not in English. The real openai SDK talks to it. One Self-Instruct run (``--n`` new tasks,
at least ``--instances`` instances) and one Evol run (``--evol-items`` items of it, ``--rounds`` rounds).

Counted, on the same replies:

* records: the run's records that are data (status generated) or an accepted instruction (a later prompt may
  show it) with chat text (``tests.chat_teacher.contamination``: preamble, sign-off, markdown, run-on,
  an instance split inside a sentence) -- must be 0 -- and those whose content is not what the teacher meant;
* per reply, new vs base parser: every reply a parser saw in the run is parsed again by the parser and rules
  of the commit before this work (``--base``, loaded from ``git show`` into a temporary module) and by the
  current ones; counted are the items each lets through its rules (tasks before the novelty filter, instances
  after clean_instances, rewrites not eliminated for template words or truncation, answers) that carry chat
  text.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_contamination.py [--share 0.5 --n 200 --stops published]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from sqlalchemy import select  # noqa: E402

from datagen.generation import evol_instruct, parsing, self_instruct  # noqa: E402
from datagen.generation.config import EvolConfig, SelfInstructConfig  # noqa: E402
from datagen.generation.elimination import copies_template_words  # noqa: E402
from datagen.selfinstruct_rules import clean_instances, first_upper, instruction_problem  # noqa: E402
from datagen.store import open_store  # noqa: E402
from datagen.store.models import Completion, Record  # noqa: E402
from tests.chat_teacher import ChatTeacher, audit, contamination  # noqa: E402
from tests.fake_api import FakeAPI  # noqa: E402

BASE = "55a6e56"  # the commit before this work: its parsing.py and selfinstruct_rules.py
NO_STOPS = {
    "sampling": {"stop": None},
    "instance_sampling": {"stop": None},
    "classify_sampling": {"stop": None},
}


def base_module(name: str, path: str, commit: str, tmp: Path) -> ModuleType:
    """``path`` as it was at ``commit``, imported from a temporary file."""
    source = subprocess.run(
        ["git", "show", f"{commit}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    file = tmp / f"{name}.py"
    file.write_text(source.stdout)
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


class Seen:
    """Every reply the run's parsers were given (after the stop strings were applied), by prompt kind."""

    def __init__(self) -> None:
        self.replies: dict[str, list[tuple[str, str | None]]] = {k: [] for k in ("tasks", "input_first",
                                                                                 "output_first", "rewrite", "answer")}  # fmt: skip

    def wrap(self, module: ModuleType, name: str, kind: str) -> None:
        real = getattr(module, name)

        def recorded(reply: str, *args: Any, **kw: Any) -> Any:
            # task lists and instances are parsed with their finish reason; rewrites and answers without
            self.replies[kind].append((reply, args[0] if kind not in ("rewrite", "answer") else None))
            return real(reply, *args, **kw)

        setattr(module, name, recorded)


def per_reply(
    seen: Seen, old: ModuleType, old_rules: ModuleType, finish_of: dict[str, str | None]
) -> dict[str, dict[str, Any]]:
    """Items each parser lets through on the same replies, and how many of them carry chat text.
    ``finish_of``: reply text -> finish reason (from the request cache), for the rewrites."""
    out: dict[str, dict[str, Any]] = {}

    def tally(kind: str, which: str, items: list[list[str]]) -> None:
        slot = out.setdefault(kind, {"replies": len(seen.replies[kind])})
        kinds: Counter[str] = Counter(k.split(":")[0] for found in items for k in found)
        slot[which] = {
            "items": len(items),
            "contaminated": sum(bool(f) for f in items),
            "by_kind": dict(kinds),
        }

    old_t, new_t = [], []
    for text, finish in seen.replies["tasks"]:
        for c in old.parse_task_list(text, finish):
            if old_rules.instruction_problem(c.text, c.truncated) is None:
                old_t.append(contamination(c.text, "", "", ()))
        cut = finish == "length"  # Self-Instruct's policy (the default): a cut reply gives no task
        for c in parsing.parse_task_list(text, finish):
            if not cut and instruction_problem(first_upper(c.text), c.truncated) is None:
                new_t.append(contamination(first_upper(c.text), "", "", ()))
    tally("tasks", "base", old_t)
    tally("tasks", "new", new_t)
    for kind, sentences in (("input_first", ("input", "output")), ("output_first", ("input",))):
        old_i, new_i = [], []
        for text, finish in seen.replies[kind]:
            if kind == "input_first":
                pairs_old, _ = old.parse_instances_input_first(text, finish)
                pairs_new, _ = parsing.parse_instances_input_first(text, finish, 5)
            else:
                pairs_old, _ = old.parse_instances_output_first(text, finish)
                pairs_new, _ = parsing.parse_instances_output_first(text, finish)
            old_i += [
                contamination("", i, o, sentences) for i, o in old_rules.clean_instances(pairs_old, 5)[0]
            ]
            new_i += [
                contamination("", i, o, sentences)
                for i, o in clean_instances(pairs_new, 5, random.Random(0))[0]
            ]
        tally(kind, "base", old_i)
        tally(kind, "new", new_i)
    old_r, new_r = [], []
    for text, _ in seen.replies["rewrite"]:
        finish = finish_of.get(text)
        for which, evolved in ((old_r, old.parse_rewrite(text)), (new_r, parsing.parse_rewrite(text))):
            if evolved and not copies_template_words(evolved) and (which is old_r or finish != "length"):
                which.append(contamination(evolved, "", "", ()))
    tally("rewrite", "base", old_r)
    tally("rewrite", "new", new_r)
    old_a = [contamination("", "", text.strip(), ()) for text, _ in seen.replies["answer"]]
    new_a = [contamination("", "", parsing.parse_answer(text), ()) for text, _ in seen.replies["answer"]]
    tally("answer", "base", old_a)
    tally("answer", "new", new_a)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--share", type=float, default=0.5, help="share of replies written as a chat model writes"
    )
    ap.add_argument("--n", type=int, default=200, help="Self-Instruct: new tasks to accept")
    ap.add_argument("--instances", type=int, default=500, help="Self-Instruct: instances the run must reach")
    ap.add_argument("--evol-items", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--stops", choices=["published", "none"], default="published",
                    help="published: the configs' stop strings (which cut some chat replies short); none: the parser alone")  # fmt: skip
    ap.add_argument("--base", default=BASE, help="the commit whose parser is compared")
    args = ap.parse_args()

    seen = Seen()
    for name, kind in (("parse_task_list", "tasks"), ("parse_instances_input_first", "input_first"),
                       ("parse_instances_output_first", "output_first")):  # fmt: skip
        seen.wrap(self_instruct, name, kind)
    seen.wrap(evol_instruct, "parse_rewrite", "rewrite")
    seen.wrap(evol_instruct, "parse_answer", "answer")
    extra = NO_STOPS if args.stops == "none" else {}
    with tempfile.TemporaryDirectory() as tmp, FakeAPI(chat_share=args.share) as api:
        old = base_module("base_parsing", "datagen/generation/parsing.py", args.base, Path(tmp))
        old_rules = base_module("base_rules", "datagen/selfinstruct_rules.py", args.base, Path(tmp))
        store = open_store(str(Path(tmp) / "bench.db"))
        teacher_cfg: dict[str, Any] = {"provider": "openai", "model": "gpt-4o-mini", "api_key": "sk-bench",
                                       "options": {"base_url": api.openai_url}, "exec": {"concurrency": 8}}  # fmt: skip
        t0 = time.perf_counter()
        si_cfg = SelfInstructConfig(seeds="builtin", n=args.n, **teacher_cfg, **extra)  # type: ignore[arg-type]
        si = self_instruct.run_self_instruct(store, si_cfg).summary
        t1 = time.perf_counter()
        ev_cfg = EvolConfig(
            source="method:self_instruct", limit=args.evol_items, rounds=args.rounds, **teacher_cfg
        )
        ev = evol_instruct.run_evol(store, ev_cfg).summary
        t2 = time.perf_counter()
        teacher: ChatTeacher = api.responder  # type: ignore[assignment]
        with store.session() as s:
            si_recs = list(s.scalars(select(Record).where(Record.method == "self_instruct")))
            ev_recs = list(s.scalars(select(Record).where(Record.method == "evol_instruct")))
            si_audit, ev_audit = audit(si_recs, teacher.truth), audit(ev_recs, teacher.truth)
            finish_of = dict(s.execute(select(Completion.text, Completion.finish_reason)).tuples().all())
        store.close()
        replies = per_reply(seen, old, old_rules, finish_of)
    report = {
        "share": args.share, "stops": args.stops, "base": args.base, "teacher_replies": teacher.replies,
        "chat_shapes_written": sum(teacher.shapes.values()),
        "self_instruct": {"n": args.n, "steps": si["steps"], "instructions_accepted": si["instructions_accepted"],
                          "instances": si["generated"], "parse_failed": si["parse_failed"],
                          "rejected": si["rejected"], "seconds": round(t1 - t0, 1), "records": si_audit},
        "evol": {"items": ev["pool"], "rounds": ev["rounds"], "evolutions": ev["evolutions"],
                 "survived": ev["survived_elimination"], "eliminated": ev["eliminated"],
                 "seconds": round(t2 - t1, 1), "records": ev_audit},
        "per_reply": replies,
    }  # fmt: skip
    print(json.dumps(report, indent=1, ensure_ascii=False))
    if si["generated"] < args.instances:
        sys.exit(f"only {si['generated']} instances (< {args.instances}): raise --n")
    if si_audit["contaminated"] or ev_audit["contaminated"]:
        sys.exit("contaminated records")


if __name__ == "__main__":
    main()
