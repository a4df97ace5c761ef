"""``run_summary``: settle each booking's outcome from the ledger and print the run's table."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from charter_pipeline.booking import Booking
from charter_pipeline.config import PipelineConfig
from charter_pipeline.ledger import (
    Action,
    LedgerRecord,
)

if TYPE_CHECKING:
    from charter_pipeline.hooks.ledger import LedgerHook

log = logging.getLogger(__name__)


OUTCOME_OF_ACTION = {Action.PUBLISH: "published", Action.UPDATE: "updated", Action.CANCEL: "cancelled"}


def summarize(
    config: PipelineConfig,
    intake: Mapping[str, Any] | None,
    work: list[dict[str, Any]] | None,
    *,
    ledger: LedgerHook | None = None,
) -> dict[str, Any]:
    """Settle each booking's outcome from the ledger (the truth, whatever the task states say), take the ones in
    sync out of the backlog, and return the run's table."""
    from charter_pipeline.hooks.ledger import LedgerHook

    ledger = ledger or LedgerHook(config.ledger_table)
    work = work or []
    counts: Counter[str] = Counter()
    for name, value in ((intake or {}).get("counts") or {}).items():
        counts[name] = int(value)
    records = ledger.get_many(item["booking_id"] for item in work) if work else {}
    rows: list[dict[str, Any]] = []
    done: set[str] = set()
    for item in work:
        booking_id = item["booking_id"]
        record = records.get(booking_id)
        in_sync = record is not None and record.in_sync(item["fingerprint"])
        outcome = OUTCOME_OF_ACTION[Action(item["action"])] if in_sync else "failed"
        counts[outcome] += 1
        if record is not None:
            state = (
                ("published" if Booking.from_dict(item["booking"]).is_charter else "cancelled") if in_sync else "failed"
            )
            ledger.record_state(booking_id, state, clear_error=in_sync)
        if in_sync:
            done.add(booking_id)
        rows.append(
            {
                "booking_id": booking_id,
                "guest": Booking.from_dict(item["booking"]).first_name,
                "charter_date": item["booking"]["trip_date"],
                "outcome": outcome,
                "guest_url": config.guest_url(record.session_id) if record and record.session_id else "",
                "calendar_id": record.calendar_id if record else "",
                "scc_event_id": record.scc_event_id if record else "",
                "error": "" if in_sync else _first_error(record),
            }
        )
    if done:
        poll_state = ledger.get_poll_state()
        poll_state.backlog = [b for b in poll_state.backlog if b not in done]
        ledger.save_poll_state(poll_state)
    quarantined = list((intake or {}).get("quarantined") or [])
    return {
        "counts": {name: counts.get(name, 0) for name in SUMMARY_COUNTS},
        "bookings": rows,
        "quarantined": quarantined,
    }


SUMMARY_COUNTS = (
    "published",
    "updated",
    "cancelled",
    "unchanged",
    "recorded_only",
    "quarantined",
    "failed",
    "deferred",
    "files_read",
    "rows_read",
    "older_rows_ignored",
)


def _first_error(record: LedgerRecord | None) -> str:
    if record is None:
        return "never reached the ledger (see the task logs)"
    pending = record.pending_steps()
    failed = [f"{step}: {record.step_results.get(step, 'not run')}" for step in pending]
    return record.last_error or "; ".join(failed) or "not in sync"


def summary_table(summary: Mapping[str, Any]) -> str:
    """The run summary as the operator reads it in the task log."""
    counts = summary["counts"]
    lines = [
        "Charter booking run summary",
        "",
        "  " + "  ".join(f"{name.replace('_', ' ')}: {counts[name]}" for name in SUMMARY_COUNTS[:8]),
    ]
    if counts.get("files_read"):
        lines.append(f"  export files read: {counts['files_read']}, rows: {counts.get('rows_read', 0)}")
    if summary["bookings"]:
        lines += ["", f"  {'booking':<16} {'guest':<12} {'date':<10}  {'outcome':<10} guest page / error"]
        for row in summary["bookings"]:
            tail = row["error"] if row["outcome"] == "failed" else row["guest_url"]
            lines.append(
                f"  {row['booking_id'][:16]:<16} {row['guest'][:12]:<12} {row['charter_date']:<10}  "
                f"{row['outcome']:<10} {tail}"
            )
    if summary["quarantined"]:
        lines += ["", "  quarantined rows:"]
        lines += [f"    {q['source']} row {q['row']}: {q['reason']}" for q in summary["quarantined"]]
    return "\n".join(lines)
