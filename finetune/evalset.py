"""Evaluation sets: the held-out tasks a tuned model is scored on, with reference answers.

A source is one of:

* ``builtin`` — ``datagen/data/eval_builtin.jsonl``: 132 tasks written for this project (22 each of open
  generation, rewriting, extraction, classification with labels, short math/reasoning and code), none of them
  overlapping the builtin seed tasks;
* a file in any format ``datagen import`` reads (Self-Instruct tasks with instances — every instance becomes
  an item —, instruction/input/output JSONL, an Alpaca array, ChatML). It is validated by the import's own
  reader, so a malformed file fails the same way (``file:line: what``, exit 2) before anything is written.
  Every item needs a reference answer and is one question (a multi-turn conversation is refused). JSONL items may carry ``task_type`` (a string) and, for
  classification, ``labels`` (the list of allowed answers, the reference among them); Self-Instruct tasks
  marked ``is_classification`` get the distinct outputs of their instances as labels;
* ``dataset:NAME[@VERSION][:SPLIT]`` — the records of a dataset version (one split of it when named), less its
  multi-turn conversations.

An evaluation set is stored once per content (``eval_sets``: hash of the items, size, the items), so scores
from different runs on the same set name the same row and can be compared.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from datagen.conversation import is_multi_turn
from datagen.errors import InputError
from datagen.store.engine import Store
from datagen.store.models import EvalSet as EvalSetRow
from datagen.textnorm import stable_hash
from finetune.data import Example

BUILTIN_EVAL = Path(__file__).resolve().parent.parent / "datagen" / "data" / "eval_builtin.jsonl"
GENERAL = "general"
CLASSIFICATION = "classification"


@dataclass(frozen=True)
class EvalItem:
    """One held-out task: the prompt, its reference answer, its task type and (classification) its labels."""

    key: str
    task_type: str
    instruction: str
    input: str
    reference: str
    labels: tuple[str, ...] = ()

    def example(self, index: int) -> Example:
        """The item as a training-format example (``record_id`` is its position in the set)."""
        return Example(index, self.instruction, self.input, self.reference)


@dataclass(frozen=True)
class LoadedEvalSet:
    """An evaluation set as loaded: its name, where it came from (``source``) and its items, in order."""

    name: str
    source: str
    items: tuple[EvalItem, ...]

    @property
    def size(self) -> int:
        return len(self.items)

    @property
    def content_hash(self) -> str:
        return content_hash(self.items)


def content_hash(items: tuple[EvalItem, ...] | list[EvalItem]) -> str:
    """sha256 of the items' content (prompt, reference, task type, labels; not their keys), in order."""
    return stable_hash([[i.instruction, i.input, i.reference, i.task_type, list(i.labels)] for i in items])


def load_eval_set(store: Store, source: str) -> LoadedEvalSet:
    """The evaluation set a ``--eval`` SOURCE names (see the module docstring); InputError when it cannot."""
    if source == "builtin":
        return LoadedEvalSet("builtin", "builtin", tuple(read_file(BUILTIN_EVAL)))
    if source.startswith("dataset:"):
        return from_dataset(store, source.removeprefix("dataset:"))
    path = Path(source)
    if not path.exists():
        raise InputError(
            f"--eval {source}: no such file (a source is a file, 'builtin' or dataset:NAME[@VERSION][:SPLIT])"
        )
    return LoadedEvalSet(path.name, str(path), tuple(read_file(path)))


def read_file(path: Path) -> list[EvalItem]:
    """Every item of an evaluation file, validated like ``datagen import`` (InputError with file:line)."""
    from datagen.import_config import ImportConfig
    from datagen.importer import Reader

    reader = Reader(ImportConfig(path=str(path)))
    items: list[EvalItem] = []
    for row in reader:
        where = reader.where(next(v for k, v in row["meta"]["source"].items() if k != "file"))
        try:
            items += _items(row, len(items))
        except ValueError as e:
            raise InputError(f"{where}: {e}") from None
    return items


def _items(row: dict[str, Any], start: int) -> list[EvalItem]:
    """The items of one imported row: one per Self-Instruct instance, else one."""
    meta = row["meta"]
    if "instances" in meta:
        outputs = [i["output"] for i in meta["instances"]]
        labels = tuple(sorted(set(outputs))) if row["is_classification"] and len(set(outputs)) > 1 else ()
        task_type = CLASSIFICATION if row["is_classification"] else GENERAL
        base = str(meta.get("seed_id") or meta.get("name") or f"task_{start + 1}")
        return [
            EvalItem(f"{base}#{k + 1}", task_type, row["instruction"], inst["input"], inst["output"], labels)
            for k, inst in enumerate(meta["instances"])
        ]
    if not row["output"].strip():
        raise ValueError("an evaluation task needs a reference answer ('output', or an assistant turn)")
    if is_multi_turn(row.get("messages")):
        raise ValueError(
            "a multi-turn conversation cannot be an evaluation task (tasks are one question and its answer)"
        )
    extra = meta.get("extra", {})
    task_type = extra.get("task_type", GENERAL)
    if not isinstance(task_type, str) or not task_type.strip():
        raise ValueError(f"field 'task_type' must be a non-empty string, got {task_type!r}")
    labels = extra.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ValueError("field 'labels' must be a list of strings")
    if labels and row["output"] not in labels:
        raise ValueError(f"the reference answer {row['output']!r} is not one of the labels {labels}")
    key = extra.get("id", f"item_{start + 1}")
    return [EvalItem(str(key), task_type, row["instruction"], row["input"], row["output"], tuple(labels))]


def from_dataset(store: Store, ref: str) -> LoadedEvalSet:
    """The records of a dataset version (``NAME[@VERSION][:SPLIT]``) as an evaluation set."""
    from datagen.datasets.ref import find_dataset
    from datagen.store.models import DatasetItem, Record

    name, _, split = ref.partition(":")
    with store.session() as s:
        ds = find_dataset(s, name)
        q = (
            select(
                Record.id,
                Record.instruction,
                Record.input,
                Record.output,
                Record.is_classification,
                Record.messages,
            )
            .join(DatasetItem, DatasetItem.record_id == Record.id)
            .where(DatasetItem.dataset_id == ds.id)
            .order_by(Record.id)
        )
        found = s.execute(q.where(DatasetItem.split == split) if split else q).all()
        rows = [r for r in found if not is_multi_turn(r[5])]  # a task is one question and its answer
        label = f"{ds.name}@{ds.version}" + (f":{split}" if split else "")
    if not rows:
        raise InputError(
            f"--eval dataset:{ref}: dataset {label} has no records"
            + (f" in split {split!r}" if split else "")
            + (
                f" but {len(found)} multi-turn conversation(s), which are not evaluation tasks"
                if found
                else ""
            )
        )
    items = tuple(
        EvalItem(f"record_{rid}", CLASSIFICATION if cls else GENERAL, ins, inp or "", out or "")
        for rid, ins, inp, out, cls, _ in rows
    )
    return LoadedEvalSet(label, f"dataset:{label}", items)


def save_eval_set(store: Store, evs: LoadedEvalSet) -> int:
    """The ``eval_sets`` row of this content (created on first use); returns its id."""
    h = evs.content_hash
    with store.session() as s:
        found = s.scalar(select(EvalSetRow.id).where(EvalSetRow.content_hash == h))
        if found is not None:
            return int(found)
        row = EvalSetRow(
            content_hash=h,
            name=evs.name,
            source=evs.source,
            size=evs.size,
            items=[{**asdict(i), "labels": list(i.labels)} for i in evs.items],
        )
        s.add(row)
        s.flush()
        return row.id
