"""How requests are executed: the ``exec`` section of every model endpoint (teachers and judges).

A light module (pydantic only), so commands can build their flags from it without loading the store.
"""

from __future__ import annotations

from pydantic import Field, NonNegativeFloat

from datagen.ray_cluster import RayExecution


class ExecConfig(RayExecution):
    """How requests are executed (the ``exec`` section of every generation config)."""

    concurrency: int = Field(default=4, ge=1, description="provider calls in flight at once")
    max_retries: int = Field(
        default=5,
        ge=0,
        description="retries per call after the first attempt; a request still failing then is recorded as "
        "failed and the run goes on (it ends partial, exit 3; a rerun retries only the failures)",
    )
    timeout_s: float = Field(default=60, gt=0, description="client timeout per call, in seconds")
    max_failures_in_a_row: int = Field(
        default=20,
        ge=1,
        description="this many requests failing in a row (none answered between) stop the run: the endpoint "
        "looks unavailable",
    )
    rpm: float | None = Field(default=None, gt=0, description="requests per minute (None: unlimited)")
    tpm: float | None = Field(
        default=None, gt=0, description="tokens per minute, prompt + completion (None: unlimited)"
    )
    max_usd: float | None = Field(default=None, ge=0, description="budget cap for this run's new requests")
    prices: dict[str, tuple[NonNegativeFloat, NonNegativeFloat]] = Field(
        default_factory=dict, description="model -> (USD per 1M input tokens, per 1M output tokens)"
    )
    backoff_s: float = Field(
        default=1.0, ge=0, description="first retry delay; doubles per retry, with jitter"
    )
    backoff_max_s: float = Field(default=60.0, ge=0, description="longest retry delay")
    seed: int = Field(default=0, description="seed of the backoff jitter")
    workers: int = Field(
        default=1,
        ge=1,
        description="processes that share this run's requests: N-1 `datagen worker` processes are started on "
        "this machine, and workers elsewhere may join (`datagen worker --run ID` against the same database)",
    )
    share_work: bool = Field(
        default=False,
        description="let `datagen worker --run ID` processes (on other machines) share this run's requests "
        "without starting local ones",
    )
    batch_api: bool = Field(
        default=False,
        description="send through the provider's batch API (OpenAI Batch, Anthropic Message Batches): half "
        "price, answered within 24 h; a run killed while waiting resumes the same batches",
    )
    batch_poll_s: float = Field(default=30.0, gt=0, description="seconds between checks of open batches")
    batch_max_requests: int = Field(default=10_000, ge=1, description="requests per submitted batch")
