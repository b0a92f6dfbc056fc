"""Record status values (a light module: configs validate against them without loading the store).

Transitions happen only in ``datagen.store.status``.
"""

GENERATED = "generated"
PARSE_FAILED = "parse_failed"
CANDIDATE = "candidate"
FILTERED_OUT = "filtered_out"
APPROVED = "approved"
REJECTED = "rejected"
RECORD_STATUSES = (GENERATED, PARSE_FAILED, CANDIDATE, FILTERED_OUT, APPROVED, REJECTED)
