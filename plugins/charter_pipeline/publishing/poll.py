"""``collect_bookings``: read the exports not read before (or take one manual booking), quarantine bad rows, and
decide per booking what it needs (CONTRACT.md section 3)."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from charter_pipeline.booking import Booking, fingerprint
from charter_pipeline.config import PipelineConfig
from charter_pipeline.ledger import (
    SNAPSHOT_ROUNDS,
    Action,
    BookingState,
    LedgerRecord,
    decide,
    is_newer,
    sift,
    with_snapshot,
)

if TYPE_CHECKING:
    from charter_pipeline.exports import Candidate, RawRow, RowProblem
    from charter_pipeline.hooks.exports import ExportFile
    from charter_pipeline.task_runtime import Hooks

log = logging.getLogger(__name__)


QUARANTINE_LISTED = 50
# A progress line every this many rows when an export is large.
PROGRESS_EVERY = 10_000


@dataclass
class Intake:
    """What one poll (or one manual trigger) read and decided. ``work`` feeds the mapped task group."""

    work: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    manual: dict[str, str] | None = None  # a manual run's booking and what became of it (manual_outcome)

    def as_xcom(self) -> dict[str, Any]:
        intake: dict[str, Any] = {"counts": dict(self.counts), "quarantined": self.quarantined}
        if self.manual is not None:
            intake["manual"] = self.manual
        return {"work": self.work, "intake": intake}


class ManualOutcome(StrEnum):
    """What a manual booking did to its booking, as the run's summary tells the desk (CONTRACT.md section 1)."""

    APPLIED = "applied"  # it needs work: published, updated or cancelled by this run's groups
    UNCHANGED = "unchanged"  # it matches what is already published: nothing to send
    RECORDED = "recorded"  # recorded, never published: a past charter, or not a charter
    SUPERSEDED = "superseded"  # the ledger holds a newer snapshot of the booking: nothing applied


def manual_outcome(booking: Booking, intake: Intake, recorded: LedgerRecord | None) -> dict[str, str]:
    """The manual booking's outcome and the words that explain it (no money, no contact details)."""
    if intake.counts["older_rows_ignored"]:
        stamp = (recorded.order_key or [""])[0] if recorded else ""
        source = recorded.source if recorded else "the ledger"
        mine = booking.updated_at.isoformat() if booking.updated_at else "none"
        outcome = ManualOutcome.SUPERSEDED
        why = (
            f"not applied: the ledger holds a newer snapshot of it (Updated At {stamp or 'none'}, from {source}); "
            f"this booking's Updated At is {mine}"
        )
    elif intake.work:
        outcome, why = ManualOutcome.APPLIED, f"applied: {intake.work[0]['action']}"
    elif intake.counts["unchanged"]:
        outcome, why = ManualOutcome.UNCHANGED, "nothing changed: it matches what is already published"
    else:
        action = Action.RECORD_PAST if booking.is_charter else Action.RECORD_ONLY
        outcome, why = ManualOutcome.RECORDED, f"nothing published: {_record_only_reason(action, booking)}"
    return {"booking_id": booking.booking_id, "outcome": outcome.value, "detail": why}


def work_item(booking: Booking, fp: str, action: Action, record: LedgerRecord | None) -> dict[str, Any]:
    """The per-booking input of the mapped group: JSON-safe, no secrets."""
    return {
        "booking_id": booking.booking_id,
        "label": booking.label,
        "action": action.value,
        "retry": bool(record and record.last_error),
        "fingerprint": fp,
        "booking": booking.to_dict(),
    }


class Poll:
    """Collects the bookings a run must work on: from new export files, the backlog, or one manual booking."""

    def __init__(self, config: PipelineConfig, now: datetime, hooks: Hooks) -> None:
        self.config = config
        self.now = now
        self.records, self.poll_state, self.exports = hooks.records, hooks.poll_state, hooks.exports
        self.hooks = hooks
        self.intake = Intake()

    @property
    def outside_calls(self) -> int:
        return self.hooks.ledger.calls + getattr(self.exports, "calls", 0)

    def manual(self, raw: Mapping[str, Any], triggered_at: datetime | None = None) -> Intake:
        """One booking from the trigger form. Validated before any outside call (CONTRACT.md section 1).

        It counts as an export file modified when the run was triggered (``triggered_at``, the run's own time), not
        when this task runs: a cleared collect_bookings of an old manual run must not pass its snapshot off as
        newer than an export that came after it (issue 14)."""
        from charter_pipeline.booking import parse_booking
        from charter_pipeline.exports import Candidate, Source

        booking = parse_booking(raw, self.config.tz)  # BookingError names the field
        received = triggered_at or self.now
        if booking.updated_at is None:
            # CONTRACT.md section 1: the desk's newest word, as of the trigger. Without this a manual correction
            # lost to every export row with an Updated At (issue 22), and a later export replaced it with any.
            booking = replace(booking, updated_at=received.astimezone(UTC))
        source = Source(file="manual trigger", last_modified=received, row=1)
        candidate = Candidate(booking=booking, source=source)
        state = self.poll_state.get_poll_state()
        records = self.records.get_many([booking.booking_id])
        recorded = records.get(booking.booking_id)
        state.backlog = self._decide({booking.booking_id: candidate}, records, state.backlog, revisit_backlog=False)
        self.poll_state.save_poll_state(state)
        self.intake.manual = manual_outcome(booking, self.intake, recorded)
        return self.intake

    def scheduled(self) -> Intake:
        """Read every export file not read before, quarantine bad rows, and decide what each booking needs."""
        from charter_pipeline.exports import collector_paused

        with collector_paused():  # rows, records and snapshots by the hundred thousand, and not one cycle
            return self._scheduled()

    def _scheduled(self) -> Intake:
        files = self.exports.list_exports(self.config.exports_uri, exclude_uri=self.config.quarantine_uri)
        state = self.poll_state.get_poll_state()
        new_files = [f for f in files if state.files.get(f.uri) != f.version]
        log.info(
            "Exports at %s: %d file(s), %d new; %d booking(s) waiting from earlier runs.",
            self.config.exports_uri,
            len(files),
            len(new_files),
            len(state.backlog),
        )
        self.intake.counts["files_read"] = len(new_files)
        if not new_files and not state.backlog:
            log.info("Nothing new to read and nothing owed: done after %d outside calls.", self.outside_calls)
            return self.intake

        read = [(export, rows) for export in new_files if (rows := self._read(export)) is not None]
        named = {row.booking_id for _, rows in read for row in rows if row.booking_id}
        # Two ledger reads. The first fetches a summary of every booking the files name by their CSV cells, which
        # is enough to recognise the rows read before; only those that may change something are parsed.
        summaries = self.records.get_summaries(named)
        sifted = sift(
            [(export.uri, export.last_modified, rows) for export, rows in read],
            summaries,
            self.config.tz,
            progress=_with_progress,
        )
        for number, (export, rows) in enumerate(read, start=1):
            problems = sifted.problems[number - 1]
            self._quarantine(export, problems)
            log.info(
                "[%d/%d] %s: %d row(s): %d as recorded before (not parsed again), %d valid, %d quarantined.",
                number,
                len(read),
                export.name,
                len(rows),
                sifted.unparsed[number - 1],
                len(rows) - sifted.unparsed[number - 1] - len(problems),
                len(problems),
            )
        # The second fetches whole records of the bookings left to decide: those rows, and the backlog.
        records = self.records.get_many((sifted.newest.keys() | set(state.backlog)) - sifted.settled)
        for booking_id in sifted.settled:
            self.intake.counts["recorded_only" if summaries[booking_id].recorded_only else "unchanged"] += 1
        state.backlog = self._decide(
            sifted.newest, records, state.backlog, settled=sifted.settled, revisit_backlog=True
        )
        state.files.update({f.uri: f.version for f in new_files})
        self.poll_state.save_poll_state(state)
        log.info("Poll done with %d outside calls.", self.outside_calls)
        return self.intake

    def _read(self, export: ExportFile) -> list[RawRow] | None:
        """The file's rows, or None for an unreadable file, which is quarantined whole."""
        from charter_pipeline.exports import ExportUnreadable, RowProblem, read_export

        data = self.exports.read(export)
        try:
            rows = read_export(export.name, data, zone=self.config.tz.key)
        except ExportUnreadable as exc:
            head = data[:300].decode("utf-8", errors="replace")
            problem = RowProblem(
                source=export.uri, row=0, reason=f"unreadable file: {exc}", raw={"bytes": len(data), "head": head}
            )
            self._quarantine(export, [problem])
            log.warning("%s is unreadable and was quarantined whole: %s", export.name, exc)
            return None
        self.intake.counts["rows_read"] += len(rows)
        return rows

    def _quarantine(self, export: ExportFile, problems: list[RowProblem]) -> None:
        for problem in problems:
            # The contract's four fields (RowProblem), then when and from which version of the file.
            record = {**problem.to_dict(), "export_version": export.version, "quarantined_at": self.now.isoformat()}
            # The name is derived from the file version and row, so re-reading a file overwrites, never duplicates.
            stem = export.name.rsplit("/", 1)[-1]
            version = hashlib.sha256(export.version.encode()).hexdigest()[:10]
            self.exports.write_quarantine(
                self.config.quarantine_uri, f"{stem}.{version}.row-{problem.row}.json", record
            )
            self.intake.counts["quarantined"] += 1
            if len(self.intake.quarantined) < QUARANTINE_LISTED:
                self.intake.quarantined.append({"source": problem.source, "row": problem.row, "reason": problem.reason})
            log.warning("Quarantined %s row %d: %s", export.name, problem.row, problem.reason)

    def _decide(
        self,
        newest: Mapping[str, Candidate],
        records: dict[str, LedgerRecord],
        backlog: list[str],
        *,
        settled: Collection[str] = (),
        revisit_backlog: bool,
    ) -> list[str]:
        """Record newer snapshots, decide what each booking needs, fill ``intake.work``, and return the new
        backlog: every booking still owed work. A manual trigger does not revisit the backlog, only keeps it."""
        from charter_pipeline.stores.booking_records import StaleSnapshot

        existing = dict(records)
        decisions: dict[str, tuple[Booking, str, Action]] = {}
        pending = dict(newest)
        saved: dict[str, LedgerRecord] = {}
        for _ in range(SNAPSHOT_ROUNDS):
            to_save = self._weigh(pending, records, decisions)
            saved.update((record.booking_id, record) for record in to_save)
            try:
                if to_save:
                    self.records.save_snapshots(to_save, existing)
                break
            except StaleSnapshot as lost:
                for booking_id in lost.booking_ids:
                    saved.pop(booking_id, None)
                # Another poll recorded a snapshot of these bookings since they were read: weigh ours against it.
                log.info("A newer snapshot was recorded meanwhile for %s; deciding again.", ", ".join(lost.booking_ids))
                fresh = self.records.get_many(lost.booking_ids)
                for booking_id in lost.booking_ids:
                    decisions.pop(booking_id, None)
                    records.pop(booking_id, None)
                    existing.pop(booking_id, None)
                records.update(fresh)
                existing.update(fresh)
                pending = {booking_id: newest[booking_id] for booking_id in lost.booking_ids}
        else:
            raise StaleSnapshot(pending)
        if saved:
            # The staff page finds upcoming charters by the month they start in (stores/charter_index.py).
            self.hooks.charter_index.index_charters(saved.values())

        for booking_id in backlog if revisit_backlog else []:
            record = records.get(booking_id)
            if booking_id in decisions or booking_id in settled or record is None or record.booking is None:
                continue
            decisions[booking_id] = (
                record.booking,
                record.fingerprint,
                decide(record.booking, record.fingerprint, record, self.now),
            )

        owed: list[tuple[Booking, str, Action]] = []
        for booking, fp, action in decisions.values():
            if action.needs_work:
                owed.append((booking, fp, action))
            elif action is Action.UNCHANGED:
                self.intake.counts["unchanged"] += 1
            else:
                self.intake.counts["recorded_only"] += 1
                log.info("%s: %s", booking.label, _record_only_reason(action, booking))
        # Soonest charters first, so that with a cap the most urgent go out in this run.
        owed.sort(key=lambda entry: (entry[0].start, entry[0].booking_id))
        cap = self.config.max_bookings_per_run
        if len(owed) > cap:
            log.warning(
                "%d booking(s) need work; this run takes %d and the rest wait for the next run.", len(owed), cap
            )
        self.intake.work = [work_item(b, fp, a, records.get(b.booking_id)) for b, fp, a in owed[:cap]]
        self.intake.counts["deferred"] = max(0, len(owed) - cap)
        # Everything owed stays in the backlog until the run summary confirms it is in sync.
        untouched = [b for b in backlog if b not in decisions and b not in settled]
        return sorted({b.booking_id for b, _, _ in owed} | set(untouched))

    def _weigh(
        self,
        newest: Mapping[str, Candidate],
        records: dict[str, LedgerRecord],
        decisions: dict[str, tuple[Booking, str, Action]],
    ) -> list[LedgerRecord]:
        """Weigh each booking's newest snapshot against its record: decide what it needs (into ``decisions``) and
        return the records to save (also put in ``records``)."""
        from charter_pipeline.exports import order_key_to_json, snapshot_order

        to_save: list[LedgerRecord] = []
        for booking_id, candidate in newest.items():
            record = records.get(booking_id)
            key = order_key_to_json(snapshot_order(candidate.booking, candidate.source))
            if not is_newer(key, record):
                self.intake.counts["older_rows_ignored"] += 1
                continue
            booking = candidate.booking
            fp = fingerprint(booking)
            action = decide(booking, fp, record, self.now)
            if (
                record is None
                or record.fingerprint != fp
                or record.row_digest != candidate.source.row_digest  # stored, so the next poll can skip this row
                or record.snapshot != booking.to_dict()
            ):
                state: str
                if action.needs_work:
                    state = BookingState.PENDING
                elif action is Action.UNCHANGED and record is not None:
                    state = record.state  # a re-export with a newer Updated At: only the ordering key moves
                else:
                    state = _record_only_state(action)
                source = f"{candidate.source.file}#{candidate.source.row}"
                updated = with_snapshot(record, booking, fp, key, source, self.now, candidate.source.row_digest, state)
                to_save.append(updated)
                records[booking_id] = updated
            decisions[booking_id] = (booking, fp, action)
        return to_save


def _with_progress(rows: Sequence[RawRow], name: str) -> Iterator[RawRow]:
    """The rows as they are parsed, with a progress line now and then for the operator watching a big export."""
    for done, row in enumerate(rows, start=1):
        if done % PROGRESS_EVERY == 0:
            log.info("  %s: %d of %d rows parsed", name, done, len(rows))
        yield row


def _record_only_state(action: Action) -> BookingState:
    return _RECORD_ONLY_STATES.get(action, BookingState.RECORDED)


_RECORD_ONLY_STATES = {
    Action.RECORD_PAST: BookingState.RECORDED_PAST,
    Action.RECORD_ONLY: BookingState.RECORDED_NOT_A_CHARTER,
}


def _record_only_reason(action: Action, booking: Booking) -> str:
    if action is Action.RECORD_PAST:
        return f"charter on {booking.trip_date} has already ended; recorded, not published"
    return f"status {booking.status!r}: recorded, nothing to publish"
