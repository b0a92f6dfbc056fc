"""Human review: reproducible stratified samples, decisions with undo and resume, statistics and the gate.

Library entry points: ``create_sample``, ``auto_review``, ``review_stats`` (and ``ReviewConfig``).
"""

from datagen.review.auto import auto_review
from datagen.review.config import ReviewConfig
from datagen.review.sample import create_sample
from datagen.review.stats import review_stats

__all__ = ["ReviewConfig", "auto_review", "create_sample", "review_stats"]
