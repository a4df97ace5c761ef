"""Reading the "Charter bookings" page from the ledger and the quarantine location, at a bounded cost.

One page view makes, whatever the ledger's history: one BatchGetItem for the month index items its dates cover,
one BatchGetItem per 100 charters in those dates, one GetItem for the poll's backlog (read by projection) and one
BatchGetItem per 100 bookings in it, and for the quarantine one ListObjectsV2 per 1,000 records plus one GetObject
for each of the newest QUARANTINE_SHOWN. Never a Scan, never one call per booking.
"""

from __future__ import annotations

from charter_pipeline.config import PipelineConfig
from charter_pipeline.staff_page.board import Board, Filters, build_board

# The quarantine records the page shows, newest first; a file with many bad rows would otherwise fill it.
QUARANTINE_SHOWN = 20
# Backlog bookings read for the "failed" list; the poll state caps nothing, the page does.
BACKLOG_READ = 200


def read_board(
    config: PipelineConfig, filters: Filters, *, aws_conn_id: str = "aws_default", quarantine: bool = True
) -> Board:
    """The page's data for ``filters`` (local dates in the Variable's time zone)."""
    from charter_pipeline.hooks.exports import ExportsHook
    from charter_pipeline.hooks.ledger import LedgerHook

    ledger = LedgerHook(config.ledger_table, aws_conn_id=aws_conn_id)
    start, end = filters.window(config.tz)
    records, crew = ledger.charters_starting(start, end)
    backlog, backlog_crew = ledger.backlog_records(BACKLOG_READ)
    quarantined = (
        ExportsHook(aws_conn_id).recent_quarantine(config.quarantine_uri, limit=QUARANTINE_SHOWN) if quarantine else []
    )
    return build_board(
        filters,
        config.tz,
        config.guest_base_url,
        records,
        backlog,
        quarantined,
        {**backlog_crew, **crew},
    )
