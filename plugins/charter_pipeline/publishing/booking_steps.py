"""The steps of one booking's mapped group: financials, calendar entry, SCC event, notes scrub, guest page,
invalidation.

Each step reads the ledger first and records what it did there last, so a cleared or rerun task repeats nothing
that is already done; before creating anything it also asks the service (GET by external id), so a create whose
answer was lost is found, not repeated (CONTRACT.md section 8).

Each step acts on the newest snapshot the ledger holds for its booking, never on the one frozen in its run's XCom
(issue 14): a task of an older run, cleared after a later run moved the booking, does the newest snapshot's work,
which is usually nothing, since the later run did it. So nothing a step acts on comes from an upstream task's XCom:
the calendar computes the financials of the snapshot it acts on, the scrub takes the SCC event id and the
invalidation the page from the ledger, where the upstream step recorded them (one source for each value). Its
record in the ledger is conditional on that snapshot still being the recorded one; when a newer one was recorded
while the step ran (a poll at the same moment), the step does its work again for that one, so whatever it sent last
is the newest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from charter_pipeline.booking import Booking
from charter_pipeline.config import PipelineConfig
from charter_pipeline.crew import external_ref
from charter_pipeline.ledger import SNAPSHOT_ROUNDS, LedgerRecord, skipped_result
from charter_pipeline.service_state import ServiceStatus, changed_fields, payload_hash, pick_existing
from charter_pipeline.task_runtime import describe

if TYPE_CHECKING:
    from charter_pipeline.task_runtime import Hooks

log = logging.getLogger(__name__)


class BookingSteps:
    """The steps of one booking's mapped group, on the task's hooks."""

    def __init__(self, config: PipelineConfig, item: Mapping[str, Any], hooks: Hooks) -> None:
        self.config = config
        self.ledger, self.calendar_hook, self.scc_hook = hooks.records, hooks.calendar, hooks.scc
        self.scc_table, self.portal = hooks.scc_table, hooks.portal
        self.item = item
        self.booking = Booking.from_dict(item["booking"])
        self.fp: str = item["fingerprint"]
        self.booking_id: str = item["booking_id"]

    def record(self) -> LedgerRecord:
        """The booking's record, read now; it also settles the snapshot the step acts on (``self.booking``,
        ``self.fp``): the newest the ledger holds, else (a lost ledger) the run's own."""
        record = self.ledger.get(self.booking_id) or LedgerRecord(booking_id=self.booking_id)
        newest = record.booking
        if newest is not None and record.fingerprint and record.fingerprint != self.fp:
            # The ledger's snapshot only ever moves forward (a newer row, a later manual trigger), and this run's
            # was stored before its work item was made: a different one is newer.
            log.info(
                "%s: the ledger holds a newer snapshot (from %s) than this run's; acting on that one, not on the "
                "snapshot this run read.",
                self.booking.label,
                record.source or "an earlier record",
            )
            self.booking, self.fp = newest, record.fingerprint
        return record

    def newest(self, step: Callable[[LedgerRecord], dict[str, Any]]) -> dict[str, Any]:
        """Run ``step`` on the booking's newest snapshot, again if a newer one was recorded while it ran."""
        from charter_pipeline.stores.booking_records import StaleSnapshot

        for _ in range(SNAPSHOT_ROUNDS - 1):
            try:
                return step(self.record())
            except StaleSnapshot:
                log.warning(
                    "%s: a newer snapshot was recorded while this step ran; doing it for that one.", self.booking.label
                )
        return step(self.record())

    @contextmanager
    def recording_failure(self, step: str) -> Iterator[None]:
        """Whatever goes wrong in ``step`` is written to the ledger (for the summary and the next poll), then
        raised for Airflow to retry or fail. Only while the snapshot it acted on is the recorded one: an older
        snapshot's failure says nothing about the newer one."""
        from charter_pipeline.publishing.desk_alerts import failure_kind
        from charter_pipeline.stores.booking_records import StaleSnapshot

        try:
            yield
        except Exception as exc:
            try:
                self.ledger.record_failure(
                    self.booking_id, step, describe(exc), fingerprint=self.fp, kind=failure_kind(exc)
                )
            except StaleSnapshot:
                log.warning(
                    "%s: %s failed for a snapshot that is no longer the newest; not recorded.", self.booking.label, step
                )
            except Exception:  # the original error matters more than the bookkeeping one
                log.warning("Could not record the failure of %s in the ledger.", step)
            raise

    # 1. financials: pure, of this run's snapshot, for the log and the XCom (the calendar computes its own)
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
    def calendar(self) -> dict[str, Any]:
        with self.recording_failure("calendar"):
            return self.newest(self._calendar)

    def _calendar(self, record: LedgerRecord) -> dict[str, Any]:
        from charter_pipeline.calendar_entry import calendar_entry_payload
        from charter_pipeline.crew import assigned_crew
        from charter_pipeline.money import compute_financials

        ref = external_ref(self.booking_id)
        session_id, entries = self.session_id(record)
        payload = calendar_entry_payload(
            self.booking,
            compute_financials(self.booking, self.config.rates),
            assigned_crew(self.booking, self.config),
            guest_url=self.config.guest_url(session_id),
            status=ServiceStatus.of(self.booking),
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
        with self.recording_failure("scc"):
            return self.newest(self._scc_event)

    def _scc_event(self, record: LedgerRecord) -> dict[str, Any]:
        from charter_pipeline.crew import assigned_crew, scc_event_payload
        from charter_pipeline.money_words import proper_names, scrub_notes

        ref = external_ref(self.booking_id)
        if self.booking.is_charter:
            payload = scc_event_payload(self.booking, self.config, assigned_crew(self.booking, self.config))
            wanted = payload_hash(payload)
        else:
            payload, wanted = {}, payload_hash({"status": ServiceStatus.CANCELLED})
        if record.scc_event_id and record.scc_hash == wanted:
            result = f"{record.scc_event_id} already up to date"
            self.ledger.record_step(self.booking_id, "scc", self.fp, result)
            return {"event_id": record.scc_event_id, "changed": False, "result": result}

        existing = pick_existing(self.scc_hook.find_events(ref), "event_id", record.scc_event_id, "SCC events")
        changed = True
        if not self.booking.is_charter:
            if existing is None:
                event_id, result, changed = "", "no SCC event to cancel", False
            elif existing.get("status") == ServiceStatus.CANCELLED:
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
            if existing.get("status") == ServiceStatus.CANCELLED:
                diff["status"] = ServiceStatus.CONFIRMED  # a cancelled booking that came back approved sails again
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
    def scrub(self) -> dict[str, Any]:
        with self.recording_failure("scrub"):
            return self.newest(self._scrub)

    def _scrub(self, record: LedgerRecord) -> dict[str, Any]:
        event_id = record.scc_event_id  # recorded by the SCC step, the scrub's upstream
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
        with self.recording_failure("page"):
            return self.newest(self._guest_page)

    def _guest_page(self, record: LedgerRecord) -> dict[str, Any]:
        from charter_pipeline.guest_page import page_hash, render_cancelled_page, render_guest_page

        if record.retired:
            # CONTRACT.md section 11: once aftercare retired the page, nothing publishes it again; a task cleared
            # in a run from before the retirement (or running beside it) stops here, and so does its invalidation.
            result = "guest page retired after the charter; not published again"
            self.ledger.record_step(self.booking_id, "page", self.fp, result)
            log.info("%s: %s", self.booking.label, result)
            return {"session_id": record.session_id, "page_hash": record.page_hash, "guest_url": "", "result": result}
        session_id, _ = self.session_id(record)
        render = render_guest_page if self.booking.is_charter else render_cancelled_page
        html = render(self.booking, self.config, session_id)
        digest = page_hash(html)
        guest_url = self.config.guest_url(session_id)
        invalidated = ""
        if record.page_hash == digest:
            result = "page already up to date"
        elif not record.page_hash and self.portal.uploaded_page_hash(session_id) == digest:
            # The ledger forgot this page (a wiped ledger) but the bucket has it, byte for byte: it was
            # uploaded, and invalidated, by an earlier run. Uploading again would only invalidate again.
            invalidated, result = digest, "page already in the bucket"
        else:
            key = self.portal.upload_page(session_id, html, digest)
            result = f"uploaded s3://{self.config.guest_bucket}/{key}"
        self.ledger.record_step(
            self.booking_id, "page", self.fp, result, page_hash=digest, invalidated_hash=invalidated
        )
        log.info("%s: %s, %s", self.booking.label, result, guest_url)
        return {"session_id": session_id, "page_hash": digest, "guest_url": guest_url, "result": result}

    # 6. the CloudFront invalidation
    def invalidation(self) -> dict[str, Any]:
        with self.recording_failure("invalidation"):
            return self.newest(self._invalidation)

    def _invalidation(self, record: LedgerRecord) -> dict[str, Any]:
        if record.retired:
            result = "guest page retired after the charter; aftercare made its one invalidation"
            self.ledger.record_step(self.booking_id, "invalidation", self.fp, result)
            log.info("%s: %s", self.booking.label, result)
            return {"invalidation_id": "", "result": result}
        # What the bucket holds, as the page step recorded it (its own, or a later one's: the newest upload).
        session_id, digest = record.session_id, record.page_hash
        if not digest:
            result = "the newest snapshot's page is not uploaded yet; the step that uploads it invalidates it"
            log.info("%s: %s; nothing done.", self.booking.label, result)
            return {"invalidation_id": "", "result": result}
        invalidation_id = ""
        unchanged = record.invalidated_hash == digest
        if unchanged:
            result = "page unchanged since its last invalidation"
        elif not self.config.cloudfront_distribution_id:
            result = skipped_result("cloudfront_distribution_id is empty")
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
            invalidated_hash=digest if invalidation_id or unchanged else "",
        )
        log.info("%s: %s", self.booking.label, result)
        return {"invalidation_id": invalidation_id, "result": result}
