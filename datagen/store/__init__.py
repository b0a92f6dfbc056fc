"""The SQL store: models, engine/session handling, migrations and the named status changes."""

from datagen.store.engine import Store, open_store
from datagen.store.models import (
    Base,
    Completion,
    Dataset,
    DatasetItem,
    Embedding,
    Record,
    Review,
    ReviewSample,
    ReviewSampleItem,
    Run,
    Score,
    TrainLog,
    TrainRun,
    Verdict,
)

__all__ = [
    "Base",
    "Completion",
    "Dataset",
    "DatasetItem",
    "Embedding",
    "Record",
    "Review",
    "ReviewSample",
    "ReviewSampleItem",
    "Run",
    "Score",
    "Store",
    "TrainLog",
    "TrainRun",
    "Verdict",
    "open_store",
]
