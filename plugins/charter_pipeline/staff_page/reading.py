"""Reading the "Charter bookings" page from the ledger and the quarantine location, at a bounded cost.

One page view makes, whatever the ledger's history: one BatchGetItem for the month index items its dates cover,
one BatchGetItem per 100 charters in those dates, one GetItem for the poll's backlog (read by projection) and one
BatchGetItem per 100 bookings in it, and for the quarantine one ListObjectsV2 per 1,000 records plus one GetObject
for each of the newest QUARANTINE_SHOWN. Never a Scan, never one call per booking.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from charter_pipeline.config import PipelineConfig
from charter_pipeline.crew import roster_boats
from charter_pipeline.staff_page.board import Board, Filters, build_board

# The quarantine records the page shows, newest first; a file with many bad rows would otherwise fill it.
QUARANTINE_SHOWN = 20
# Backlog bookings read for the "failed" list; the poll state caps nothing, the page does.
BACKLOG_READ = 200


# Hooks kept between page views: a boto3 client costs more to build than a page view's reads. Rebuilt after
# HOOKS_KEPT_SECONDS so that a rotated AWS key (Admin -> Connections) is picked up without a restart.
HOOKS_KEPT_SECONDS = 300.0
_kept: dict[tuple[str, str, str], tuple[float, Any]] = {}
_kept_lock = threading.Lock()


def _kept_hook(kind: str, name: str, aws_conn_id: str, make: Callable[[], Any]) -> Any:
    key = (kind, name, aws_conn_id)
    now = time.monotonic()
    with _kept_lock:
        made, hook = _kept.get(key, (0.0, None))
        if hook is None or now - made > HOOKS_KEPT_SECONDS:
            hook = make()
            _kept[key] = (now, hook)
        return hook


def read_board(
    config: PipelineConfig, filters: Filters, *, aws_conn_id: str = "aws_default", quarantine: bool = True
) -> Board:
    """The page's data for ``filters`` (local dates in the Variable's time zone)."""
    from charter_pipeline.hooks.exports import ExportsHook
    from charter_pipeline.hooks.ledger import LedgerHook

    ledger: LedgerHook = _kept_hook(
        "ledger", config.ledger_table, aws_conn_id, lambda: LedgerHook(config.ledger_table, aws_conn_id=aws_conn_id)
    )
    start, end = filters.window(config.tz)
    records, crew = ledger.charters_starting(start, end)
    backlog, backlog_crew = ledger.backlog_records(BACKLOG_READ)
    quarantined = []
    if quarantine:
        exports: ExportsHook = _kept_hook("exports", "", aws_conn_id, lambda: ExportsHook(aws_conn_id))
        quarantined = exports.recent_quarantine(config.quarantine_uri, limit=QUARANTINE_SHOWN)
    return build_board(
        filters,
        config.tz,
        config.guest_base_url,
        records,
        backlog,
        quarantined,
        {**backlog_crew, **crew},
        roster_boats(config),
    )
