"""SQLAlchemy models for the whole datagen schema.

The schema is designed up front: runs, records with lineage, verdicts, review samples and reviews, datasets
and their items, training runs with their logs and scores, evaluation sets, the request cache and stored
embeddings.
Every table works on SQLite and PostgreSQL; JSON columns use the portable ``JSON`` type.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from datagen.statuses import (  # noqa: F401 (the store names them for its users)
    APPROVED,
    CANDIDATE,
    FILTERED_OUT,
    GENERATED,
    PARSE_FAILED,
    RECORD_STATUSES,
    REJECTED,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Run(Base):
    """One command invocation with its fully resolved config, code version, status and counters."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    # running | succeeded | partial | budget_stopped | failed | interrupted (datagen.store.runs.RUN_STATUSES)
    status: Mapped[str] = mapped_column(String(16), default="running")
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    code_version: Mapped[str] = mapped_column(String(64), default="")
    parent_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    counters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    # The lease of a running run: the process that holds it and its last heartbeat (datagen.store.lease).
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Record(Base):
    """A generated, imported or edited example and everything needed to reproduce and trace it."""

    __tablename__ = "records"
    __table_args__ = (Index("ix_records_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Idempotency key: a rerun (resume, re-import) inserts nothing twice.
    uid: Mapped[str] = mapped_column(String(64), unique=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("records.id"), index=True)
    method: Mapped[str] = mapped_column(String(32))  # seed|import|self_instruct|evol_instruct|edit
    operation: Mapped[str | None] = mapped_column(String(32))
    round: Mapped[int] = mapped_column(Integer, default=0)
    instruction: Mapped[str] = mapped_column(Text)
    input: Mapped[str] = mapped_column(Text, default="")
    output: Mapped[str] = mapped_column(Text, default="")
    # Every turn of a conversation ([{"role", "content"}], system first if any, ending with the assistant) when
    # the fields above cannot hold it; instruction = its first user turn, output = its last assistant turn
    # (datagen.conversation). None for a single-turn record.
    messages: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)
    is_classification: Mapped[bool | None] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16), default=GENERATED)
    content_hash: Mapped[str] = mapped_column(String(64))
    template_name: Mapped[str | None] = mapped_column(String(128))
    template_sha256: Mapped[str | None] = mapped_column(String(64))
    provider: Mapped[str | None] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(256))
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    request_hash: Mapped[str | None] = mapped_column(String(64))
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    latency_s: Mapped[float | None] = mapped_column(Float)
    raw: Mapped[str | None] = mapped_column(Text)  # the model's raw text (kept when it could not be parsed)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    parent: Mapped[Record | None] = relationship(remote_side=[id], lazy="joined", join_depth=1)


class Verdict(Base):
    """One filter's score and decision on one record (a filter never edits the record it judges)."""

    __tablename__ = "verdicts"
    __table_args__ = (UniqueConstraint("record_id", "filter_name", "filter_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), index=True)
    filter_name: Mapped[str] = mapped_column(String(64), index=True)
    filter_version: Mapped[str] = mapped_column(String(32))
    score: Mapped[float | None] = mapped_column(Float)
    passed: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(64))  # stable snake_case, "ok" when passed
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewSample(Base):
    """A reproducible review sample: scope, seed, fraction and the stratification used."""

    __tablename__ = "review_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # e.g. {"run": 3} or {"dataset": "x@1"}
    seed: Mapped[int] = mapped_column(Integer)
    fraction: Mapped[float] = mapped_column(Float)
    min_count: Mapped[int] = mapped_column(Integer)
    filtered_fraction: Mapped[float] = mapped_column(Float, default=0.0)
    strata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # stratum -> population size
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewSampleItem(Base):
    __tablename__ = "review_sample_items"
    __table_args__ = (UniqueConstraint("sample_id", "record_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("review_samples.id", ondelete="CASCADE"), index=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    stratum: Mapped[str] = mapped_column(String(128))
    from_filtered: Mapped[bool] = mapped_column(Boolean, default=False)


class Review(Base):
    """A reviewer's decision on one record; an edit links to the new record revision it created."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"), index=True)
    sample_id: Mapped[int | None] = mapped_column(ForeignKey("review_samples.id"), index=True)
    reviewer: Mapped[str] = mapped_column(String(128))
    is_human: Mapped[bool] = mapped_column(Boolean, default=True)
    decision: Mapped[str] = mapped_column(String(16))  # accept|reject|edit|skip
    reason_code: Mapped[str | None] = mapped_column(String(64))
    edited_record_id: Mapped[int | None] = mapped_column(ForeignKey("records.id"))
    note: Mapped[str | None] = mapped_column(Text)
    seconds: Mapped[float | None] = mapped_column(Float)
    undone: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Dataset(Base):
    """A named, versioned, frozen set of records with a split per item."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    source: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # what it was built from
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    gate: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # review stats checked at creation
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DatasetItem(Base):
    __tablename__ = "dataset_items"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"), primary_key=True)
    split: Mapped[str] = mapped_column(String(16))  # train|validation|test
    cluster: Mapped[str | None] = mapped_column(String(64))  # near-duplicate cluster kept within one split


class TrainRun(Base):
    """A fine-tuning run of a base model on a dataset version."""

    __tablename__ = "train_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    base_model: Mapped[str] = mapped_column(String(256))
    method: Mapped[str] = mapped_column(String(16))  # qlora|lora
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    output_dir: Mapped[str | None] = mapped_column(Text)
    adapter_path: Mapped[str | None] = mapped_column(Text)
    merged_path: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="running")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TrainLog(Base):
    """One logged training/evaluation step (the loss curve lives here)."""

    __tablename__ = "train_logs"
    __table_args__ = (Index("ix_train_logs_run_step", "train_run_id", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    train_run_id: Mapped[int] = mapped_column(ForeignKey("train_runs.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    epoch: Mapped[float | None] = mapped_column(Float)
    loss: Mapped[float | None] = mapped_column(Float)
    eval_loss: Mapped[float | None] = mapped_column(Float)
    grad_norm: Mapped[float | None] = mapped_column(Float)
    learning_rate: Mapped[float | None] = mapped_column(Float)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class EvalSet(Base):
    """A set of held-out tasks scores are measured on, identified by the hash of its content, so scores of
    different runs on the same set can be compared (``builtin``, a file, or a dataset version's records)."""

    __tablename__ = "eval_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    source: Mapped[str] = mapped_column(Text)  # builtin | the file's path | dataset:NAME@VERSION[:SPLIT]
    size: Mapped[int] = mapped_column(Integer)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Score(Base):
    """One metric of a scored training run: base vs tuned, with an interval where it has one."""

    __tablename__ = "scores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    train_run_id: Mapped[int] = mapped_column(ForeignKey("train_runs.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    eval_set_id: Mapped[int | None] = mapped_column(ForeignKey("eval_sets.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    metric: Mapped[str] = mapped_column(String(64))
    base_value: Mapped[float | None] = mapped_column(Float)
    tuned_value: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    n: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Completion(Base):
    """The request cache: hash of (provider, model, messages, params, seed, sample index) -> response."""

    __tablename__ = "completions"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(256))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    text: Mapped[str] = mapped_column(Text)
    model_used: Mapped[str | None] = mapped_column(String(256))
    finish_reason: Mapped[str | None] = mapped_column(String(32))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_s: Mapped[float] = mapped_column(Float, default=0.0)
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Payment(Base):
    """One answer a provider was paid for, written in the same transaction as the cache row it offered: the
    ledger ``datagen stats`` sums. ``stored`` is False when another process had cached the same request first
    (the answer was paid for, and the cached one is what everyone uses)."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), index=True)
    key: Mapped[str] = mapped_column(String(64), index=True)  # the completions key it answered
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(256))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    stored: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RequestFailure(Base):
    """A request that failed after its retries (or could not be retried), with why: the run goes on and ends
    ``partial``; a rerun sends it again (only successes are cached)."""

    __tablename__ = "request_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), index=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[int | None] = mapped_column(Integer)  # the HTTP status of the last attempt, when known
    request: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WorkItem(Base):
    """A share of one executor call of a run that workers (``datagen worker --run ID``, ``--workers N``) claim:
    requests to send to one endpoint. ``claimed`` by ``worker_run_id`` while that worker's run is alive; a
    claim whose worker died goes back to ``pending`` (``datagen.providers.workqueue``)."""

    __tablename__ = "work_items"
    __table_args__ = (Index("ix_work_items_run_status", "run_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    endpoint: Mapped[dict[str, Any]] = mapped_column(JSON)  # provider, model, options, exec, ... (no key)
    requests: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # messages, params, sample_index
    keys: Mapped[list[str]] = mapped_column(JSON)  # their cache keys
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|claimed|done|failed
    worker_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failed_keys: Mapped[list[str]] = mapped_column(JSON, default=list)  # requests that failed after retries
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RemoteBatch(Base):
    """A batch submitted to a provider's batch API: written as soon as the provider accepts it, so a killed run
    resumes waiting for it instead of paying for the same requests twice."""

    __tablename__ = "remote_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(256))  # as in cache keys (with the endpoint, if any)
    remote_id: Mapped[str] = mapped_column(String(128))
    keys: Mapped[list[str]] = mapped_column(JSON)  # the cache keys of its requests (their custom_id)
    status: Mapped[str] = mapped_column(String(16), default="submitted")  # submitted | collected
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    collected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # succeeded / failed when collected


class Embedding(Base):
    """A stored embedding (float32 bytes), so later dedup batches never re-embed the corpus."""

    __tablename__ = "embeddings"

    record_id: Mapped[int] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(256), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    text_hash: Mapped[str] = mapped_column(String(64))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
