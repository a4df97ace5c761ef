"""Reading the "Charter bookings" page from the ledger and the quarantine location, at a bounded cost.

One page view makes, whatever the ledger's history: one BatchGetItem for the month index items its dates cover,
one BatchGetItem per 100 charters in those dates, one GetItem for the poll's backlog (read by projection) and one
BatchGetItem per 100 bookings in it, and for the quarantine one ListObjectsV2 per 1,000 records plus one GetObject
for each of the newest QUARANTINE_SHOWN. Never a Scan, never one call per booking.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from charter_pipeline.config import PipelineConfig
from charter_pipeline.crew import roster_boats
from charter_pipeline.staff_page.board import Board, Filters, build_board

if TYPE_CHECKING:
    from charter_pipeline.task_runtime import Hooks

# The quarantine records the page shows, newest first; a file with many bad rows would otherwise fill it.
QUARANTINE_SHOWN = 20
# Backlog bookings read for the "failed" list; the poll state caps nothing, the page does.
BACKLOG_READ = 200


# Hooks kept between page views: a boto3 client costs more to build than a page view's reads. Rebuilt after
# HOOKS_KEPT_SECONDS so that a rotated AWS key (Admin -> Connections) is picked up without a restart.
HOOKS_KEPT_SECONDS = 300.0
_kept: dict[tuple[str, str], tuple[float, Hooks | None]] = {}
_kept_lock = threading.Lock()


def _kept_hooks(config: PipelineConfig, aws_conn_id: str) -> Hooks:
    from charter_pipeline.hooks.exports import ExportsHook
    from charter_pipeline.hooks.ledger import LedgerHook
    from charter_pipeline.task_runtime import Hooks

    key = (config.ledger_table, aws_conn_id)
    now = time.monotonic()
    with _kept_lock:
        made, hooks = _kept.get(key, (0.0, None))
        if hooks is None or now - made > HOOKS_KEPT_SECONDS:
            ledger = LedgerHook(config.ledger_table, aws_conn_id=aws_conn_id)
            hooks = Hooks.from_config(config, ledger=ledger, exports=ExportsHook(aws_conn_id))
            _kept[key] = (now, hooks)
        return hooks


def read_board(
    config: PipelineConfig, filters: Filters, *, aws_conn_id: str = "aws_default", quarantine: bool = True
) -> Board:
    """The page's data for ``filters`` (local dates in the Variable's time zone)."""
    hooks = _kept_hooks(config, aws_conn_id)
    index = hooks.charter_index
    start, end = filters.window(config.tz)
    records, crew = index.charters_starting(start, end)
    backlog, backlog_crew = index.backlog_records(BACKLOG_READ)
    quarantined = []
    if quarantine:
        quarantined = hooks.exports.recent_quarantine(config.quarantine_uri, limit=QUARANTINE_SHOWN)
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
