"""Human review: reproducible stratified samples, decisions with undo and resume, statistics and the gate.

The stage is ``datagen.review.run.run_review``; the parts: ``sample.create_sample``, ``auto.auto_review``,
``sheet`` (offline decisions), ``tui`` (the terminal UI), ``stats.review_stats``, ``config.ReviewConfig``.
This package module imports nothing, so the review command's flags load without the store.
"""
