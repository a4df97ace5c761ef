"""One reconcile run: every published charter not yet ended, compared place by place, repaired where that cannot
surprise anyone, and the rest reported as one ``drift`` alert per booking per distinct set of differences.

Reads JADA and SCC with GETs only (``find_entries``, ``find_events``): the run never POSTs or PATCHes either
(CONTRACT.md section 12). One booking's failure is written into its row and the others go on.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from charter_pipeline.alerts import AlertDelivery
from charter_pipeline.config import PipelineConfig
from charter_pipeline.crew import external_ref
from charter_pipeline.reconcile.drift import (
    SCC_ITEM,
    SKIP_ENDED,
    Difference,
    alert_text,
    calendar_differences,
    find,
    page_difference,
    reported,
    scc_event_differences,
    sent_calendar,
    sent_scc_event,
    situation,
    skip_reason,
)
from charter_pipeline.reconcile.repairs import Repairs
from charter_pipeline.task_runtime import describe

if TYPE_CHECKING:
    from charter_pipeline.booking import Booking
    from charter_pipeline.ledger import LedgerRecord
    from charter_pipeline.task_runtime import Hooks

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    """A booking's outcome in the run's report, as the report (XCom, the ledger's last drift report) spells it."""

    IN_STEP = "in step"  # every place holds what the pipeline sent
    REPAIRED = "repaired"  # differences the run put right (a scrub, a guest page), none left over
    DRIFT = "drift"  # differences left to a person, alerted
    SKIPPED = "skipped"  # nothing to compare (ended, retired, never published)
    ERROR = "error"  # could not be checked; the next run tries again


OUTCOMES = tuple(Outcome)


@dataclass
class Comparison:
    """What ``Reconcile.compare`` found: the differences at JADA and SCC, and the guest page's (to be put back)."""

    differences: list[Difference] = field(default_factory=list)
    page: Difference | None = None
    scc_event_listed: bool = False  # SCC still lists the event (its item should then be in SCC's table)


@dataclass
class BookingReport:
    """One booking's row in the drift report (JSON-safe for XCom and the ledger)."""

    booking_id: str
    guest: str = ""
    charter_date: str = ""
    outcome: Outcome = Outcome.IN_STEP
    differences: list[str] = field(default_factory=list)  # reported, left to a person
    repairs: list[str] = field(default_factory=list)  # what the run put right, and how
    alert: str = ""  # what became of the drift alert, in words (with its id)
    delivery: AlertDelivery = AlertDelivery.NONE  # the same, as the run's summary decides on it
    note: str = ""  # why it was skipped, or the error

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Reconcile:
    """The drift report of one run at ``now``, on the task's hooks; ``repairs`` are made on them unless given."""

    def __init__(self, config: PipelineConfig, now: datetime, hooks: Hooks, repairs: Repairs | None = None) -> None:
        self.config = config
        self.now = now
        self.hooks = hooks
        self.repairs = repairs or Repairs(config, now, hooks)

    def run(self, records: Iterable[LedgerRecord] | None = None) -> dict[str, Any]:
        """Check every published booking; the report: counts, one row per booking not ended, when it ran."""
        counts: Counter[str] = Counter()
        rows: list[dict[str, Any]] = []
        # Retired pages are left out: not drift, and never put back (aftercare owns them now).
        chosen = self.hooks.records.published_records() if records is None else records
        for record in sorted(chosen, key=lambda r: r.booking_id):
            row = self.check(record)
            if row.note == SKIP_ENDED:
                counts["ended"] += 1  # the whole history is ended: counted apart, not listed
                continue
            counts[row.outcome] += 1
            rows.append(row.to_dict())
        return {
            "checked_at": self.now.isoformat(),
            "counts": {str(name): counts.get(name, 0) for name in (*OUTCOMES, "ended")},
            "bookings": rows,
        }

    def check(self, record: LedgerRecord) -> BookingReport:
        """One booking: compare, repair what may be repaired, alert the rest."""
        booking = record.booking
        row = BookingReport(record.booking_id)
        if booking is not None:
            row.guest = booking.first_name
            row.charter_date = booking.start.astimezone(self.config.tz).date().isoformat()
        reason = skip_reason(record, self.now, retired=record.retired)
        if reason or booking is None:
            row.outcome, row.note = Outcome.SKIPPED, reason or ""
            return row
        try:
            differences = self.repair(record, booking, self.compare(record, booking))
        except Exception as exc:  # one booking's failure is its row's; the others go on
            log.warning("%s: could not be checked: %s", record.booking_id, describe(exc))
            row.outcome, row.note = Outcome.ERROR, describe(exc)
            return row
        row.repairs = [f"{d.line} -> {d.repair}" for d in differences if d.repair]
        row.differences = situation(differences)
        if row.differences:
            row.outcome = Outcome.DRIFT
            row.delivery, row.alert = self.alert(record, booking, differences)
        elif row.repairs:
            row.outcome = Outcome.REPAIRED
        return row

    def compare(self, record: LedgerRecord, booking: Booking) -> Comparison:
        """What the JADA entry, the SCC event and the guest page hold against what was sent: GETs and reads only,
        nothing changed. A guest page difference names the repair ``repair`` will make."""
        ref = external_ref(record.booking_id)
        found = Comparison()
        if record.calendar_id:
            sent = sent_calendar(record, booking, self.config)
            found.differences += calendar_differences(sent, self.hooks.calendar.find_entries(ref), record.calendar_id)
        if record.scc_event_id:
            sent = sent_scc_event(record, booking, self.config)
            events = self.hooks.scc.find_events(ref)
            found.differences += scc_event_differences(sent, events, record.scc_event_id)
            found.scc_event_listed = find(events, "event_id", record.scc_event_id) is not None
        if record.page_hash and record.session_id:
            held = self.hooks.portal.page_content_hash(record.session_id)
            found.page = page_difference(record.session_id, record.page_hash, held)
        return found

    def repair(self, record: LedgerRecord, booking: Booking, found: Comparison) -> list[Difference]:
        """The two repairs that cannot surprise anyone (CONTRACT.md section 12): scrub the SCC item again (the
        scrub reads it first and writes only when it holds money again), and put back a guest page ``compare``
        found missing or altered. Every difference, each repaired one saying how."""
        from charter_pipeline.hooks.scc_events import SccEventNotFound

        differences = list(found.differences)
        if record.scc_event_id:
            try:
                scrubbed = self.repairs.scrub_again(record.scc_event_id)
            except SccEventNotFound:
                if found.scc_event_listed:
                    # An event deleted at SCC takes its item along: its own difference says so already.
                    differences.append(
                        Difference(SCC_ITEM, f"{record.scc_event_id} is not in {self.config.scc_events_table}")
                    )
            else:
                if scrubbed is not None:
                    differences.append(scrubbed)
        if found.page is not None:
            differences.append(self.repairs.put_page_back(record, booking, found.page))
        return differences

    def alert(self, record: LedgerRecord, booking: Booking, differences: list[Difference]) -> tuple[AlertDelivery, str]:
        """One ``drift`` alert per distinct set of differences: sent unless this very set was answered 2xx. What
        became of it, and the report's words for it."""
        from charter_pipeline.alerts import Alert, AlertKind, alert_id

        lines = situation(differences)
        ident = alert_id(AlertKind.DRIFT, record.booking_id, lines)
        if ident in record.alerts_sent:
            return AlertDelivery.ALREADY_SENT, f"already sent ({ident})"
        text = alert_text(booking, reported(differences), self.config.tz)
        alert = Alert(AlertKind.DRIFT, record.booking_id, text, ident)
        try:
            how = self.hooks.alerts.send(alert)
        except Exception as exc:  # refused or unanswered: the next run sends it again, with the same id
            log.warning("%s: drift alert %s not delivered: %s", record.booking_id, ident, describe(exc))
            return AlertDelivery.FAILED, f"failed: {describe(exc)}"
        # Answered 2xx, or logged without the connection (handled): never sent again (CONTRACT.md section 11).
        self.hooks.aftercare.record_alert_sent(record.booking_id, ident)
        delivery = AlertDelivery.LOGGED if how == AlertDelivery.LOGGED else AlertDelivery.SENT
        return delivery, f"{how} ({ident})"
