"""Import seeds and examples into records, all or nothing.

Formats (``auto`` detects from the file):

* ``self-instruct``: JSONL, one task per line: ``id``, ``name``, ``instruction``,
  ``instances: [{input, output}]``, ``is_classification`` (the 175 seed tasks' format) -> method ``seed``;
  the record takes the first instance, all instances are kept in ``meta["instances"]``.
* ``jsonl``: one ``{"instruction", "input"?, "output"?}`` object per line -> method ``import``.
* ``alpaca``: a JSON array of the same objects (Alpaca's ``alpaca_data.json``) -> method ``import``. Either may
  carry LLaMA-Factory's ``system`` and ``history`` (earlier ``[user, assistant]`` pairs): a conversation whose last
  exchange is instruction/input/output.
* ``chatml``: one ``{"messages": [{"role", "content"}, ...]}`` per line (OpenAI/TRL conversations; roles
  system, user, assistant) -> method ``import``.
* ``sharegpt``: one ``{"conversations": [{"from", "value"}, ...]}`` per line (roles human/user, gpt/assistant,
  system) -> method ``import``.

Conversations (either format, also as a JSON array) may have many turns: an optional system turn first, then
user and assistant alternating, ending with the assistant's (``datagen.conversation.check_turns``). The record's
``instruction`` is the first user turn, ``output`` the last assistant turn, and ``messages`` holds every turn when
there is more than one exchange or a system turn. Its content hash covers every turn.

Rows are validated and inserted as they are read, in batches, inside ONE transaction that also holds the
import's run row: the first bad line (an error naming the file and line) rolls everything back. With
``skip_invalid`` the valid lines are imported and every skipped line is reported. Records are keyed by
content (``uid``), so importing the same file twice adds nothing.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing, contextmanager
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql

from datagen import progress
from datagen.conversation import record_hash
from datagen.errors import InputError
from datagen.import_config import ImportConfig
from datagen.import_formats import PARSERS, BadRecord, detect
from datagen.stage import StageResult
from datagen.store.engine import Store
from datagen.store.models import GENERATED, Record, utcnow
from datagen.store.runs import close_run, new_run
from datagen.textnorm import stable_hash

BATCH = 5000


_BOM = b"\xef\xbb\xbf"


def _lines(f: BinaryIO, max_bytes: int) -> Iterator[tuple[int, bytes | None, str | None]]:
    """(line number, raw bytes or None, problem or None) without ever holding an oversized line in memory."""
    n = 0
    while True:
        raw = f.readline(max_bytes + 1)
        if not raw:
            return
        n += 1
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            size = len(raw)
            while chunk := f.readline(1 << 20):
                size += len(chunk)
                if chunk.endswith(b"\n"):
                    break
            yield n, None, f"line is {size:,} bytes, over the limit of {max_bytes:,} (--max-line-bytes)"
            continue
        if n == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        yield n, raw, None


def _line_problem(raw: bytes, error: orjson.JSONDecodeError) -> str | None:
    """Why a line did not parse (None for a blank line, which is skipped)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"not valid UTF-8 (byte {e.start}: {raw[e.start : e.start + 1]!r})"
    return f"invalid JSON: {error.msg} (column {error.colno})" if text.strip() else None


def _is_array(path: Path, cfg: ImportConfig) -> bool:
    """A JSON array (Alpaca's format, or any other format's records in one array: a leading ``[``, or with
    ``auto`` a .json name) rather than JSONL."""
    if cfg.format in ("alpaca", "jsonl"):
        return cfg.format == "alpaca"
    with path.open("rb") as f:
        head = f.read(4096).lstrip(_BOM + b" \t\r\n")
    return head.startswith(b"[") or (cfg.format == "auto" and path.suffix == ".json")


def _array_items(path: Path, cfg: ImportConfig) -> Iterator[tuple[int, Any, str | None]]:
    if path.stat().st_size > 64 * cfg.max_line_bytes:
        raise InputError(
            f"{path}: a JSON array over {64 * cfg.max_line_bytes:,} bytes; use JSONL for large files"
        )
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not valid UTF-8 at byte {e.start}") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}:{e.lineno}: invalid JSON: {e.msg} (column {e.colno})") from None
    if not isinstance(data, list):
        raise InputError(f"{path}: an Alpaca file must be a JSON array of objects")
    for k, obj in enumerate(data):
        yield k + 1, obj, None


def _jsonl_items(f: BinaryIO, max_bytes: int) -> Iterator[tuple[int, Any, str | None]]:
    loads = orjson.loads
    for n, raw, problem in _lines(f, max_bytes):
        if raw is None:
            yield n, None, problem
            continue
        try:
            yield n, loads(raw), None  # orjson checks the UTF-8 itself
        except orjson.JSONDecodeError as e:
            problem = _line_problem(raw, e)
            if problem:
                yield n, None, problem


class Reader:
    """The rows of a file, validated one by one as they are read (iterate once).

    A bad line raises InputError naming file and line, unless ``skip_invalid``: then it is listed in
    ``skipped`` as (line, why). ``format`` is the detected format once the first record is read; a file with
    no valid record raises InputError at the end.
    """

    def __init__(self, cfg: ImportConfig) -> None:
        self.cfg = cfg
        self.path = Path(cfg.path)
        if not self.path.exists():
            raise InputError(f"{self.path}: no such file")
        if not self.path.is_file():
            raise InputError(
                f"{self.path}: not a regular file (save a pipe's or a device's output to a file first)"
            )
        self.array = _is_array(self.path, cfg)
        # Unless given, the first record decides the format (an array of plain records is Alpaca's).
        self.format: str = "" if cfg.format == "auto" else cfg.format
        self.unit = "item" if self.array else "line"
        self.skipped: list[tuple[int, str]] = []
        self.rows = 0
        self.size = self.path.stat().st_size
        self._file: BinaryIO | None = None

    def tell(self) -> int:
        """Bytes of the file read so far (for progress)."""
        return self._file.tell() if self._file is not None and not self._file.closed else self.size

    def __iter__(self) -> Generator[dict[str, Any]]:
        if self.array:
            yield from self._rows(_array_items(self.path, self.cfg))
            return
        with self.path.open("rb") as self._file:
            yield from self._rows(_jsonl_items(self._file, self.cfg.max_line_bytes))

    def where(self, n: int) -> str:
        """Where line (or array item) ``n`` is, as errors and reports name it."""
        return f"{self.path}:{n}" if self.unit == "line" else f"{self.path}: item {n}"

    def _rows(self, items: Iterator[tuple[int, Any, str | None]]) -> Iterator[dict[str, Any]]:
        path, cfg, unit = self.path, self.cfg, self.unit
        file_name = path.name
        for n, obj, problem in items:
            try:
                if problem:
                    raise BadRecord(problem)
                if not isinstance(obj, dict):
                    raise BadRecord(f"expected a JSON object, got {type(obj).__name__}")
                if not self.format:  # the first record decides; later ones must match it
                    found = detect(obj)
                    self.format = "alpaca" if self.array and found == "jsonl" else found
                row = PARSERS[self.format](obj)
            except BadRecord as e:
                if not cfg.skip_invalid:
                    raise InputError(f"{self.where(n)}: {e}") from None
                self.skipped.append((n, str(e)))
                continue
            row["meta"]["source"] = {"file": file_name, unit: n}
            self.rows += 1
            yield row
        if not self.rows:
            skipped = f" ({len(self.skipped)} invalid, skipped)" if self.skipped else ""
            raise InputError(f"{path}: the file holds no valid records{skipped}")


def parse_file(cfg: ImportConfig) -> list[dict[str, Any]]:
    """Every row of the file, validated (InputError on the first bad line unless ``skip_invalid``)."""
    return list(Reader(cfg))


_COLUMNS = (
    "uid",
    "run_id",
    "method",
    "round",
    "instruction",
    "input",
    "output",
    "messages",
    "is_classification",
    "status",
    "content_hash",
    "meta",
    "created_at",
)


def record_uid(row: dict[str, Any], namespace: str | None = None) -> str:
    """Content identity of an imported record (seed instances and every turn of a conversation included), so a
    re-import adds nothing."""
    parts = (row["method"], row["content_hash"], row["meta"].get("instances"))
    return stable_hash(*parts) if namespace is None else stable_hash(namespace, *parts)


def _batches(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def write_rows(
    conn: Connection,
    run_id: int,
    rows: Iterable[dict[str, Any]],
    namespace: str | None = None,
    on_batch: Callable[[int], None] = lambda n: None,
) -> tuple[int, int]:
    """Insert in batches on ``conn`` (the caller's transaction), skipping rows whose uid already exists, as the
    rows are read. Returns (new, existing).

    On SQLite this is one DBAPI ``executemany`` of ``INSERT OR IGNORE`` per batch (the rowcount tells how many
    were new); elsewhere a Core insert with ``ON CONFLICT DO NOTHING``.
    """
    now = utcnow()
    new = total = 0
    if conn.dialect.name == "sqlite":
        created = Record.__table__.c.created_at.type
        to_db = created.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        stamp = to_db(now) if to_db else now  # the same text SQLAlchemy writes, formatted once
        sql = (
            f"INSERT OR IGNORE INTO records ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
        )
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    else:
        stmt = postgresql.insert(Record).on_conflict_do_nothing(index_elements=["uid"]).returning(Record.id)
    for batch in _batches(rows, BATCH):
        for row in batch:
            msgs = row.setdefault("messages", None)
            row["content_hash"] = record_hash(row["instruction"], row["input"], row["output"], msgs)
            row["uid"] = record_uid(row, namespace)
        total += len(batch)
        if conn.dialect.name == "sqlite":
            cur.executemany(
                sql,
                [
                    (
                        r["uid"],
                        run_id,
                        r["method"],
                        0,
                        r["instruction"],
                        r["input"],
                        r["output"],
                        None if r["messages"] is None else orjson.dumps(r["messages"]).decode(),
                        r["is_classification"],
                        GENERATED,
                        r["content_hash"],
                        orjson.dumps(r["meta"]).decode(),
                        stamp,
                    )
                    for r in batch
                ],
            )
            new += cur.rowcount
        else:
            values = [
                {**r, "run_id": run_id, "status": GENERATED, "round": 0, "created_at": now} for r in batch
            ]
            new += len(conn.execute(stmt, values).all())  # RETURNING lists only the rows inserted
        on_batch(total)
    return new, total - new


@contextmanager
def _without_gc() -> Iterator[None]:
    """Hundreds of thousands of new row dicts would trigger the cyclic collector over and over (about 40% of
    parsing time). Rows form no reference cycles, so the collector is paused for the import; the little
    cyclic garbage the database layer leaves waits for the collector's next run."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def import_file(store: Store, cfg: ImportConfig, parent_run_id: int | None = None) -> dict[str, Any]:
    """Read, validate and insert the file in ONE transaction, with the ``import`` run row in it: a bad line
    (or Ctrl-C) rolls everything back, so a failed import leaves the database exactly as it was. For JSONL,
    memory stays bounded by one batch whatever the file's size (a JSON array is read whole). The write lock is
    held for the whole import (about 2 s per 100,000 lines; other writers wait on the busy timeout). Returns
    the run's summary."""
    from datagen.config import resolved

    reader = Reader(cfg)
    kib = max(1, reader.size // 1024)
    with _without_gc(), store.session() as s:
        run = new_run(s, "import", resolved(cfg), parent_run_id)
        with progress.stage("import", run.id) as stage:
            read = stage.meter("KiB", kib)

            def advance(records: int) -> None:
                read.update(done=min(kib, reader.tell() // 1024))
                stage.note(records=records)

            with closing(iter(reader)) as rows:  # the file is closed at once, also when a write fails
                new, existing = write_rows(s.connection(), run.id, rows, cfg.namespace, advance)
            read.update(done=kib)
        counters = {
            "format": reader.format,
            "read": reader.rows + len(reader.skipped),
            "imported": new,
            "already_present": existing,
            "skipped_invalid": len(reader.skipped),
        }
        close_run(run, "succeeded", counters)
    skipped = [{reader.unit: n, "where": reader.where(n), "error": e} for n, e in reader.skipped]
    return {"run_id": run.id, **counters, "skipped": skipped}


def run_import(store: Store, cfg: ImportConfig, parent_run: int | None = None) -> StageResult:
    """The import stage (the pipeline's seeds): ``import_file``'s summary as a stage result."""
    summary = import_file(store, cfg, parent_run)
    return StageResult(summary["run_id"], summary)
