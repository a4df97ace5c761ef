"""The task code of ``charter_booking_pipeline``: the poll, the per-booking steps, the run summary, and the entry
points its DAG file calls (``tasks``)."""
