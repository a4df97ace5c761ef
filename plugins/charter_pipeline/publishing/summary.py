"""``run_summary``: settle each booking's outcome from the ledger and print the run's table."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from charter_pipeline.booking import Booking
from charter_pipeline.config import PipelineConfig
from charter_pipeline.crew import default_crew_note, roster_boats
from charter_pipeline.ledger import Action, BookingState, LedgerRecord

if TYPE_CHECKING:
    from charter_pipeline.task_runtime import Hooks

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    """A booking's outcome in the run's summary (its row and its count), as the table spells it."""

    PUBLISHED = "published"
    UPDATED = "updated"
    CANCELLED = "cancelled"
    FAILED = "failed"
    # A later run (or poll) recorded a newer snapshot: that run settles it (a summary rerun after the fact).
    SUPERSEDED = "superseded"


OUTCOME_OF_ACTION = {
    Action.PUBLISH: Outcome.PUBLISHED,
    Action.UPDATE: Outcome.UPDATED,
    Action.CANCEL: Outcome.CANCELLED,
}


def summarize(
    config: PipelineConfig,
    intake: Mapping[str, Any] | None,
    work: list[dict[str, Any]] | None,
    hooks: Hooks,
) -> dict[str, Any]:
    """Settle each booking's outcome from the ledger (the truth, whatever the task states say), take the ones in
    sync out of the backlog, and return the run's table."""
    from charter_pipeline.stores.booking_records import StaleSnapshot

    ledger, poll_states = hooks.records, hooks.poll_state
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
        booking = Booking.from_dict(item["booking"])
        if record is not None and record.fingerprint and record.fingerprint != item["fingerprint"]:
            # A later run (or poll) recorded a newer snapshot: this run's outcome is that one's to settle. A summary
            # reports; rerun after the fact (issue 14) it must not fail the run nor mark a healthy booking failed.
            counts[Outcome.SUPERSEDED] += 1
            log.info(
                "%s: superseded by a newer snapshot (%s); its state is left as it is.", booking.label, record.source
            )
            rows.append(_row(config, item, booking, record, Outcome.SUPERSEDED, ""))
            continue
        in_sync = record is not None and record.in_sync(item["fingerprint"])
        outcome = OUTCOME_OF_ACTION[Action(item["action"])] if in_sync else Outcome.FAILED
        if record is not None:
            if not in_sync:
                state = BookingState.FAILED
            else:
                state = BookingState.PUBLISHED if booking.is_charter else BookingState.CANCELLED
            try:
                ledger.record_state(booking_id, state, clear_error=in_sync, fingerprint=item["fingerprint"])
            except StaleSnapshot:  # a newer snapshot was recorded since the read above
                counts[Outcome.SUPERSEDED] += 1
                rows.append(_row(config, item, booking, record, Outcome.SUPERSEDED, ""))
                continue
        counts[outcome] += 1
        if in_sync:
            done.add(booking_id)
        rows.append(_row(config, item, booking, record, outcome, "" if in_sync else _first_error(record)))
    if done:
        poll_state = poll_states.get_poll_state()
        poll_state.backlog = [b for b in poll_state.backlog if b not in done]
        poll_states.save_poll_state(poll_state)
    quarantined = list((intake or {}).get("quarantined") or [])
    summary: dict[str, Any] = {
        "counts": {name: counts.get(name, 0) for name in SUMMARY_COUNTS},
        "bookings": rows,
        "quarantined": quarantined,
    }
    if manual := (intake or {}).get("manual"):
        summary["manual"] = dict(manual)
    return summary


def manual_line(summary: Mapping[str, Any]) -> str:
    """What became of a manual run's booking, in one line ("" for a poll): CONTRACT.md section 1 wants a manual
    run that changed nothing, or lost to a newer snapshot, to say so."""
    manual = summary.get("manual")
    return f"Manual booking {manual['booking_id']}: {manual['detail']}" if manual else ""


def crew_notes(summary: Mapping[str, Any]) -> list[str]:
    """One line per booking of the run sailing with the default crew although the roster may have meant another
    (crew.default_crew_note): a typo in a boat name must not pass silently (issue 22)."""
    return [f"{row['booking_id']}: {row['crew_note']}" for row in summary["bookings"] if row.get("crew_note")]


def headline(summary: Mapping[str, Any]) -> str:
    """The run in one line, for the run's page in the UI (publishing/tasks.py show_on_run)."""
    counts = summary["counts"]
    shown = [f"{name.replace('_', ' ')} {counts[name]}" for name in SUMMARY_COUNTS[:9] if counts.get(name)]
    line = ", ".join(shown) or "nothing to do"
    head = f"{manual_line(summary)} ({line})" if summary.get("manual") else line
    return "; ".join([head, *crew_notes(summary)])


def _row(
    config: PipelineConfig,
    item: Mapping[str, Any],
    booking: Booking,
    record: LedgerRecord | None,
    outcome: Outcome,
    error: str,
) -> dict[str, Any]:
    crew_note = default_crew_note(booking.boat, roster_boats(config)) if booking.is_charter else ""
    return {
        "booking_id": item["booking_id"],
        "guest": booking.first_name,
        "charter_date": item["booking"]["trip_date"],
        "outcome": outcome,
        "guest_url": config.guest_url(record.session_id) if record and record.session_id else "",
        "calendar_id": record.calendar_id if record else "",
        "scc_event_id": record.scc_event_id if record else "",
        "error": error,
        "crew_note": crew_note,
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
    # Bookings of this run that a later run moved on (a summary rerun after the fact); shown when there are any.
    "superseded",
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
    if counts.get("superseded"):
        lines[-1] += f"  superseded: {counts['superseded']}"
    if counts.get("files_read"):
        lines.append(f"  export files read: {counts['files_read']}, rows: {counts.get('rows_read', 0)}")
    if manual := manual_line(summary):
        lines += ["", f"  {manual}"]
    if summary["bookings"]:
        lines += ["", f"  {'booking':<16} {'guest':<12} {'date':<10}  {'outcome':<10} guest page / error"]
        for row in summary["bookings"]:
            tail = row["error"] if row["outcome"] == Outcome.FAILED else row["guest_url"]
            lines.append(
                f"  {row['booking_id'][:16]:<16} {row['guest'][:12]:<12} {row['charter_date']:<10}  "
                f"{row['outcome']:<10} {tail}"
            )
    # After the table, so a booking's row stays the first line that names it.
    if notes := crew_notes(summary):
        lines += ["", *(f"  {note}" for note in notes)]
    if summary["quarantined"]:
        lines += ["", "  quarantined rows:"]
        lines += [f"    {q['source']} row {q['row']}: {q['reason']}" for q in summary["quarantined"]]
    return "\n".join(lines)
