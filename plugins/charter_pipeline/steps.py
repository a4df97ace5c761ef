"""What each task of ``charter_booking_pipeline`` does.

The DAG file only wires these together. Every step here takes plain data (the work item the poll produced, the
results of earlier steps) and returns plain, JSON-safe, secret-free data for XCom. Each per-booking step reads the
ledger first and records what it did there last, so a cleared or rerun task repeats nothing that is already done;
before creating anything it also asks the service (GET by external id), so a create whose answer was lost is found,
not repeated (CONTRACT.md section 8).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import TYPE_CHECKING, Any

from charter_pipeline.booking import Booking, BookingError, fingerprint
from charter_pipeline.config import PipelineConfig
from charter_pipeline.crew import external_ref
from charter_pipeline.ledger import (
    RECORDED_NOT_A_CHARTER,
    RECORDED_PAST,
    Action,
    LedgerRecord,
    decide,
    is_newer,
    sift,
    with_snapshot,
)

if TYPE_CHECKING:
    from charter_pipeline.exports import Candidate, RawRow, RowProblem
    from charter_pipeline.hooks.exports import ExportFile, ExportsHook
    from charter_pipeline.hooks.guest_portal import GuestPortalHook
    from charter_pipeline.hooks.jada_calendar import JadaCalendarHook
    from charter_pipeline.hooks.ledger import LedgerHook
    from charter_pipeline.hooks.scc import ShipCaptainCrewHook
    from charter_pipeline.hooks.scc_events import SccEventsTableHook

log = logging.getLogger(__name__)

# How many quarantined rows the poll hands to the summary by name; the count is always complete.
QUARANTINE_LISTED = 50
# A progress line every this many rows when an export is large.
PROGRESS_EVERY = 10_000

OUTCOME_OF_ACTION = {Action.PUBLISH: "published", Action.UPDATE: "updated", Action.CANCEL: "cancelled"}


def payload_hash(payload: Mapping[str, Any]) -> str:
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def changed_fields(current: Mapping[str, Any], wanted: Mapping[str, Any], *, ignore: tuple[str, ...] = ()) -> dict:
    """The fields of ``wanted`` that the service's ``current`` view does not already hold."""
    return {key: value for key, value in wanted.items() if key not in ignore and not holds(current.get(key), value)}


def holds(current: Any, wanted: Any) -> bool:
    """Whether a service's stored value already says what we would send.

    Lenient where services differ harmlessly: objects may carry extra keys of the service's own (a crew member's
    invitation status), and numbers may come back as text or with another scale ("250.00" for 250). A needless
    PATCH is not harmless at SCC: it e-mails every crew member.
    """
    if isinstance(wanted, Mapping):
        return isinstance(current, Mapping) and all(holds(current.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return (
            isinstance(current, list)
            and len(current) == len(wanted)
            and all(holds(c, w) for c, w in zip(current, wanted, strict=True))
        )
    if isinstance(wanted, int | float | Decimal) and not isinstance(wanted, bool):
        try:
            return Decimal(str(current)) == Decimal(str(wanted))
        except (InvalidOperation, ValueError):
            return False
    return bool(current == wanted)


def pick_existing(items: list[dict[str, Any]], id_key: str, known_id: str, what: str) -> dict[str, Any] | None:
    """The one artifact a lookup found: the one the ledger knows if present, else the first. Warns on duplicates,
    which the pipeline never makes but a person working by hand might have."""
    if not items:
        return None
    if len(items) > 1:
        log.warning(
            "%d %s share one external id; using %s. Remove the duplicates by hand.",
            len(items),
            what,
            known_id or items[0].get(id_key),
        )
    for item in items:
        if known_id and item.get(id_key) == known_id:
            return item
    return items[0]


# --- the poll ------------------------------------------------------------------------------------------------


@dataclass
class Intake:
    """What one poll (or one manual trigger) read and decided. ``work`` feeds the mapped task group."""

    work: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    quarantined: list[dict[str, Any]] = field(default_factory=list)

    def as_xcom(self) -> dict[str, Any]:
        return {"work": self.work, "intake": {"counts": dict(self.counts), "quarantined": self.quarantined}}


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

    def __init__(
        self,
        config: PipelineConfig,
        now: datetime,
        *,
        ledger: LedgerHook | None = None,
        exports: ExportsHook | None = None,
    ) -> None:
        self.config = config
        self.now = now
        self._ledger = ledger
        self._exports = exports
        self.intake = Intake()

    @cached_property
    def ledger(self) -> LedgerHook:
        from charter_pipeline.hooks.ledger import LedgerHook

        return self._ledger or LedgerHook(self.config.ledger_table)

    @cached_property
    def exports(self) -> ExportsHook:
        from charter_pipeline.hooks.exports import ExportsHook

        return self._exports or ExportsHook()

    @property
    def outside_calls(self) -> int:
        return self.ledger.calls + getattr(self.exports, "calls", 0)

    def manual(self, raw: Mapping[str, Any]) -> Intake:
        """One booking from the trigger form. Validated before any outside call (CONTRACT.md section 1)."""
        from charter_pipeline.booking import parse_booking
        from charter_pipeline.exports import Candidate, Source

        booking = parse_booking(raw, self.config.tz)  # BookingError names the field
        candidate = Candidate(booking=booking, source=Source(file="manual trigger", last_modified=self.now, row=1))
        state = self.ledger.get_poll_state()
        records = self.ledger.get_many([booking.booking_id])
        state.backlog = self._decide({booking.booking_id: candidate}, records, state.backlog, revisit_backlog=False)
        self.ledger.save_poll_state(state)
        return self.intake

    def scheduled(self) -> Intake:
        """Read every export file not read before, quarantine bad rows, and decide what each booking needs."""
        from charter_pipeline.exports import collector_paused

        with collector_paused():  # rows, records and snapshots by the hundred thousand, and not one cycle
            return self._scheduled()

    def _scheduled(self) -> Intake:
        files = self.exports.list_exports(self.config.exports_uri, exclude_uri=self.config.quarantine_uri)
        state = self.ledger.get_poll_state()
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
        summaries = self.ledger.get_summaries(named)
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
        records = self.ledger.get_many((sifted.newest.keys() | set(state.backlog)) - sifted.settled)
        for booking_id in sifted.settled:
            self.intake.counts["recorded_only" if summaries[booking_id].recorded_only else "unchanged"] += 1
        state.backlog = self._decide(
            sifted.newest, records, state.backlog, settled=sifted.settled, revisit_backlog=True
        )
        state.files.update({f.uri: f.version for f in new_files})
        self.ledger.save_poll_state(state)
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
            record = {
                "source": problem.source,
                "row": problem.row,
                "reason": problem.reason,
                "raw": problem.raw,
                "export_version": export.version,
                "quarantined_at": self.now.isoformat(),
            }
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
        from charter_pipeline.exports import order_key_to_json, snapshot_order

        existing = dict(records)
        to_save: list[LedgerRecord] = []
        decisions: dict[str, tuple[Booking, str, Action]] = {}

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
                if action.needs_work:
                    state = "pending"
                elif action is Action.UNCHANGED and record is not None:
                    state = record.state  # a re-export with a newer Updated At: only the ordering key moves
                else:
                    state = _record_only_state(action)
                source = f"{candidate.source.file}#{candidate.source.row}"
                updated = with_snapshot(record, booking, fp, key, source, self.now, candidate.source.row_digest, state)
                to_save.append(updated)
                records[booking_id] = updated
            decisions[booking_id] = (booking, fp, action)

        for booking_id in backlog if revisit_backlog else []:
            record = records.get(booking_id)
            if booking_id in decisions or booking_id in settled or record is None or record.booking is None:
                continue
            decisions[booking_id] = (
                record.booking,
                record.fingerprint,
                decide(record.booking, record.fingerprint, record, self.now),
            )

        if to_save:
            self.ledger.save_snapshots(to_save, existing)

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


def _with_progress(rows: Sequence[RawRow], name: str) -> Iterator[RawRow]:
    """The rows as they are parsed, with a progress line now and then for the operator watching a big export."""
    for done, row in enumerate(rows, start=1):
        if done % PROGRESS_EVERY == 0:
            log.info("  %s: %d of %d rows parsed", name, done, len(rows))
        yield row


def _record_only_state(action: Action) -> str:
    return {Action.RECORD_PAST: RECORDED_PAST, Action.RECORD_ONLY: RECORDED_NOT_A_CHARTER}.get(action, "recorded")


def _record_only_reason(action: Action, booking: Booking) -> str:
    if action is Action.RECORD_PAST:
        return f"charter on {booking.trip_date} has already ended; recorded, not published"
    return f"status {booking.status!r}: recorded, nothing to publish"


# --- the per-booking steps -----------------------------------------------------------------------------------


class BookingSteps:
    """The steps of one booking's mapped group. Hooks are made on first use, inside the task."""

    def __init__(self, config: PipelineConfig, item: Mapping[str, Any]) -> None:
        self.config = config
        self.item = item
        self.booking = Booking.from_dict(item["booking"])
        self.fp: str = item["fingerprint"]
        self.booking_id: str = item["booking_id"]

    @cached_property
    def ledger(self) -> LedgerHook:
        from charter_pipeline.hooks.ledger import LedgerHook

        return LedgerHook(self.config.ledger_table)

    @cached_property
    def calendar_hook(self) -> JadaCalendarHook:
        from charter_pipeline.hooks.jada_calendar import JadaCalendarHook

        return JadaCalendarHook()

    @cached_property
    def scc_hook(self) -> ShipCaptainCrewHook:
        from charter_pipeline.hooks.scc import ShipCaptainCrewHook

        return ShipCaptainCrewHook()

    @cached_property
    def scc_table(self) -> SccEventsTableHook:
        from charter_pipeline.hooks.scc_events import SccEventsTableHook

        return SccEventsTableHook(self.config.scc_events_table)

    @cached_property
    def portal(self) -> GuestPortalHook:
        from charter_pipeline.hooks.guest_portal import GuestPortalHook

        return GuestPortalHook(self.config.guest_bucket, self.config.cloudfront_distribution_id)

    def record(self) -> LedgerRecord:
        return self.ledger.get(self.booking_id) or LedgerRecord(booking_id=self.booking_id)

    @contextmanager
    def recording_failure(self, step: str) -> Iterator[None]:
        """Whatever goes wrong in ``step`` is written to the ledger (for the summary and the next poll), then
        raised for Airflow to retry or fail."""
        try:
            yield
        except Exception as exc:
            try:
                self.ledger.record_failure(self.booking_id, step, describe(exc))
            except Exception:  # the original error matters more than the bookkeeping one
                log.warning("Could not record the failure of %s in the ledger.", step)
            raise

    # 1. financials: pure
    def financials(self) -> dict[str, str]:
        from charter_pipeline.money import compute_financials

        money = compute_financials(self.booking, self.config.rates)
        log.info(
            "%s: gross %s, crew %s, captain %s, port fee %s, net %s",
            self.booking.label,
            money.gross_revenue,
            money.crew_cost,
            money.captain_cost,
            money.port_fee,
            money.net_revenue,
        )
        return money.to_dict()

    def session_id(self, record: LedgerRecord) -> tuple[str, list[dict[str, Any]] | None]:
        """The booking's guest page session id, settled once: from the ledger, else recovered from the calendar
        entry's guest_url (a lost ledger must not change the guest's address), else new. The calendar and page
        steps both ask, in whichever order they run; the ledger's conditional write makes the first answer stick.
        Also returns the calendar entries when it had to look them up, so the calendar step need not ask twice."""
        from charter_pipeline.guest_page import new_session_id, session_id_from_url

        if record.session_id:
            return record.session_id, None
        entries = self.calendar_hook.find_entries(external_ref(self.booking_id))
        base = self.config.guest_base_url
        urls = (str(entry.get("guest_url") or "") for entry in entries)
        recovered = next((sid for url in urls if (sid := session_id_from_url(url, base))), None)
        return self.ledger.claim_session_id(self.booking_id, recovered or new_session_id()), entries

    # 2. calendar entry
    def calendar(self, money: Mapping[str, str]) -> dict[str, Any]:
        from charter_pipeline.calendar_entry import calendar_entry_payload
        from charter_pipeline.crew import assigned_crew
        from charter_pipeline.money import Financials

        with self.recording_failure("calendar"):
            record = self.record()
            ref = external_ref(self.booking_id)
            session_id, entries = self.session_id(record)
            payload = calendar_entry_payload(
                self.booking,
                Financials.from_dict(money),
                assigned_crew(self.booking, self.config),
                guest_url=self.config.guest_url(session_id),
                status="confirmed" if self.booking.is_charter else "cancelled",
                config=self.config,
            )
            wanted = payload_hash(payload)
            if record.calendar_id and record.calendar_hash == wanted:
                result = f"{record.calendar_id} already up to date"
                self.ledger.record_step(self.booking_id, "calendar", self.fp, result)
                return {"calendar_id": record.calendar_id, "session_id": session_id, "result": result}

            if entries is None:
                entries = self.calendar_hook.find_entries(ref)
            existing = pick_existing(entries, "id", record.calendar_id, "calendar entries")
            if existing is None and not self.booking.is_charter:
                calendar_id, result = "", "no calendar entry to cancel"
            elif existing is None:
                calendar_id = self.calendar_hook.create_entry(payload)
                result = f"created {calendar_id}"
            else:
                calendar_id = str(existing["id"])
                diff = changed_fields(existing, payload, ignore=("external_id",))
                if diff:
                    self.calendar_hook.update_entry(calendar_id, diff)
                    result = f"updated {calendar_id} ({', '.join(sorted(diff))})"
                else:
                    result = f"{calendar_id} already up to date"
            self.ledger.record_step(
                self.booking_id,
                "calendar",
                self.fp,
                result,
                calendar_id=calendar_id,
                calendar_hash=wanted if calendar_id else "",
            )
            log.info("%s: calendar %s", self.booking.label, result)
            return {"calendar_id": calendar_id, "session_id": session_id, "result": result}

    # 3. ShipCaptainCrew event
    def scc_event(self) -> dict[str, Any]:
        from charter_pipeline.crew import assigned_crew, proper_names, scc_event_payload, scrub_notes

        with self.recording_failure("scc"):
            record = self.record()
            ref = external_ref(self.booking_id)
            if self.booking.is_charter:
                payload = scc_event_payload(self.booking, self.config, assigned_crew(self.booking, self.config))
                wanted = payload_hash(payload)
            else:
                payload, wanted = {}, payload_hash({"status": "cancelled"})
            if record.scc_event_id and record.scc_hash == wanted:
                result = f"{record.scc_event_id} already up to date"
                self.ledger.record_step(self.booking_id, "scc", self.fp, result)
                return {"event_id": record.scc_event_id, "changed": False, "result": result}

            existing = pick_existing(self.scc_hook.find_events(ref), "event_id", record.scc_event_id, "SCC events")
            changed = True
            if not self.booking.is_charter:
                if existing is None:
                    event_id, result, changed = "", "no SCC event to cancel", False
                elif existing.get("status") == "cancelled":
                    event_id, result, changed = str(existing["event_id"]), "SCC event already cancelled", False
                else:
                    event_id = str(existing["event_id"])
                    self.scc_hook.cancel_event(event_id)
                    result = f"cancelled {event_id}"
            elif existing is None:
                event_id = self.scc_hook.create_event(payload)
                result = f"created {event_id}"
            else:
                event_id = str(existing["event_id"])
                diff = changed_fields(existing, payload, ignore=("external_ref", "notes"))
                # SCC appends its own money lines to notes: compare what crew would see after our scrub, which
                # may leave the line break that stood before the removed lines.
                seen_notes = scrub_notes(str(existing.get("notes") or "")).rstrip()
                if seen_notes != str(payload.get("notes") or "").rstrip():
                    diff["notes"] = payload.get("notes")
                if existing.get("status") == "cancelled":
                    diff["status"] = "confirmed"  # a cancelled booking that came back approved sails again
                if diff:
                    self.scc_hook.update_event(event_id, diff, names=proper_names(payload))
                    result = f"updated {event_id} ({', '.join(sorted(diff))})"
                else:
                    result, changed = f"{event_id} already up to date", False
            self.ledger.record_step(
                self.booking_id, "scc", self.fp, result, scc_event_id=event_id, scc_hash=wanted if event_id else ""
            )
            log.info("%s: SCC %s", self.booking.label, result)
            return {"event_id": event_id, "changed": changed, "result": result}

    # 4. the notes scrub on the SCC item
    def scrub(self, scc: Mapping[str, Any]) -> dict[str, Any]:
        with self.recording_failure("scrub"):
            event_id = str(scc.get("event_id") or "") or self.record().scc_event_id
            if not event_id:
                result = "no SCC event to scrub"
            else:
                report = self.scc_table.scrub_event(event_id)
                removed = ", ".join(report.removed_attributes) or "no attributes"
                result = f"scrubbed {event_id}: removed {removed} and {report.removed_lines} note line(s)"
            self.ledger.record_step(self.booking_id, "scrub", self.fp, result)
            log.info("%s: %s", self.booking.label, result)
            return {"event_id": event_id, "result": result}

    # 5. the guest page
    def guest_page(self) -> dict[str, Any]:
        from charter_pipeline.guest_page import page_hash, render_cancelled_page, render_guest_page

        with self.recording_failure("page"):
            record = self.record()
            session_id, _ = self.session_id(record)
            render = render_guest_page if self.booking.is_charter else render_cancelled_page
            html = render(self.booking, self.config, session_id)
            digest = page_hash(html)
            guest_url = self.config.guest_url(session_id)
            found = False
            if record.page_hash == digest:
                result = "page already up to date"
            elif not record.page_hash and self.portal.uploaded_page_hash(session_id) == digest:
                # The ledger forgot this page (a wiped ledger) but the bucket has it, byte for byte: it was
                # uploaded, and invalidated, by an earlier run. Uploading again would only invalidate again.
                found, result = True, "page already in the bucket"
            else:
                key = self.portal.upload_page(session_id, html, digest)
                result = f"uploaded s3://{self.config.guest_bucket}/{key}"
            self.ledger.record_step(self.booking_id, "page", self.fp, result, page_hash=digest)
            log.info("%s: %s, %s", self.booking.label, result, guest_url)
            return {
                "session_id": session_id,
                "page_hash": digest,
                "guest_url": guest_url,
                "found_in_bucket": found,
                "result": result,
            }

    # 6. the CloudFront invalidation
    def invalidation(self, page: Mapping[str, Any]) -> dict[str, Any]:
        with self.recording_failure("invalidation"):
            record = self.record()
            session_id, digest = str(page["session_id"]), str(page["page_hash"])
            invalidation_id = ""
            if record.invalidated_hash == digest or page.get("found_in_bucket"):
                result = "page unchanged since its last invalidation"
            elif not self.config.cloudfront_distribution_id:
                result = "skipped: cloudfront_distribution_id is empty"
                log.info("%s: invalidation skipped because cloudfront_distribution_id is empty.", self.booking.label)
            else:
                invalidation_id = self.portal.invalidate_page(session_id, digest) or ""
                result = f"invalidated /g/{session_id} ({invalidation_id})"
            self.ledger.record_step(
                self.booking_id,
                "invalidation",
                self.fp,
                result,
                invalidation_id=invalidation_id,
                invalidated_hash=digest if invalidation_id or result.startswith("page unchanged") else "",
            )
            log.info("%s: %s", self.booking.label, result)
            return {"invalidation_id": invalidation_id, "result": result}


def describe(exc: BaseException) -> str:
    """One line for the ledger and the summary. Hook errors are already secret-free (hooks/policy.py)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


# --- the run summary -----------------------------------------------------------------------------------------


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


def refuse_manual_booking(error: BookingError) -> str:
    """The error line of a refused manual trigger: names the field, as CONTRACT.md section 1 asks."""
    return f"Manual booking refused: {error}"


# --- the task entry points the DAG calls ---------------------------------------------------------------------


def pipeline_config() -> PipelineConfig:
    """The ``charter_pipeline`` Variable, validated; a bad one fails the task at once, naming the key."""
    from airflow.sdk import Variable
    from airflow.sdk.exceptions import AirflowFailException

    from charter_pipeline.config import VARIABLE_KEY, ConfigError, load_config

    try:
        return load_config(Variable.get(VARIABLE_KEY, default=None))
    except ConfigError as exc:
        raise AirflowFailException(f"Variable {VARIABLE_KEY!r} is not usable: {exc}") from None


@contextmanager
def airflow_errors() -> Iterator[None]:
    """Permanent errors (bad input, refused credentials, a 4xx) fail the task without retries; anything else is
    raised as is, for Airflow's retries with backoff (CONTRACT.md section 8)."""
    from airflow.sdk.exceptions import AirflowFailException

    from charter_pipeline.config import ConfigError
    from charter_pipeline.hooks.policy import ServiceAuthError, ServiceRejected

    try:
        yield
    except (BookingError, ConfigError, ServiceAuthError, ServiceRejected) as exc:
        raise AirflowFailException(str(exc)) from exc


def collect_task(params: Mapping[str, Any]) -> dict[str, Any]:
    """``collect_bookings``: a manual booking (conf ``booking`` or the trigger form's fields, validated before any
    outside call) or a poll of the exports."""
    from datetime import UTC

    from airflow.sdk.exceptions import AirflowFailException

    from charter_pipeline.trigger_form import manual_booking as booking_of

    now = datetime.now(UTC)
    config = pipeline_config()
    try:
        manual_booking = booking_of(params)
        if manual_booking is not None:
            from charter_pipeline.booking import parse_booking

            parse_booking(manual_booking, config.tz)
    except BookingError as exc:
        raise AirflowFailException(refuse_manual_booking(exc)) from None
    if manual_booking is not None:
        with airflow_errors():
            intake = Poll(config, now).manual(manual_booking)
    else:
        with airflow_errors():
            intake = Poll(config, now).scheduled()
    log.info(
        "%d booking(s) need work this run: %s",
        len(intake.work),
        ", ".join(f"{i['label']} ({i['action']})" for i in intake.work) or "none",
    )
    return intake.as_xcom()


def booking_task(item: Mapping[str, Any], step: str, *args: Any) -> Any:
    """Run one step of a booking's group."""
    config = pipeline_config()
    steps = BookingSteps(config, item)
    with airflow_errors():
        if step == "financials":
            return steps.financials()
        if step == "calendar":
            return steps.calendar(*args)
        if step == "scc_event":
            return steps.scc_event()
        if step == "scrub":
            return steps.scrub(*args)
        if step == "guest_page":
            return steps.guest_page()
        if step == "invalidation":
            return steps.invalidation(*args)
    raise ValueError(f"unknown step {step!r}")


def summary_task(intake: Mapping[str, Any] | None, work: list[dict[str, Any]] | None) -> dict[str, Any]:
    """``run_summary``: log the table, and fail the run (red in the UI) if the intake or any booking failed."""
    from airflow.sdk.exceptions import AirflowFailException

    config = pipeline_config()
    summary = summarize(config, intake, work)
    log.info("%s", summary_table(summary))
    if intake is None:
        raise AirflowFailException("collect_bookings did not finish: nothing was processed (see its log).")
    failed = summary["counts"]["failed"]
    if failed:
        raise AirflowFailException(f"{failed} booking(s) failed; the next poll retries them. See the table above.")
    return summary
