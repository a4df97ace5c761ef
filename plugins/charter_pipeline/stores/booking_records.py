"""BookingRecords: one item per booking in the ledger table, and what the poll and the steps write there.

Item layout (the pipeline owns every attribute but the key):
  snapshot, order_key       JSON text of the winning export row and its ordering key
  row_digest                digest of that row as written (CSV), so the poll can skip it when it comes again
  fingerprint, status, source, state, session_id, calendar_id, scc_event_id, page_hash, invalidation_id
  <step>_fp, <step>_result, <step>_at   per step in ledger.STEPS: the fingerprint it last completed for
  <step>_failure            the kind of answer its last failure got (FailureKind), "" once it completes again
  attempts, last_error, first_seen_at, updated_at
  alerts_sent, crew_alert_open, crew_answers, crew_checked_at, retired_*   aftercare's (stores/aftercare_marks.py)
  stuck_alert_open          the publish_failed alert awaiting its publish_recovered (stores/aftercare_marks.py)

Several processes write one item at the same moment (CONTRACT.md section 9: a booking's three branches, a cleared
task of an older run, the poll), so no write here is a blind read-then-write: step records and failures are
updates of their own attributes, conditional on the snapshot they were made for; snapshots are conditional on the
order key that was read. docs/ARCHITECTURE.md "Concurrency" has the table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from charter_pipeline.ledger import STEPS, LedgerRecord, RecordSummary, failed_result

if TYPE_CHECKING:
    from charter_pipeline.hooks.ledger import Condition, LedgerHook

_PLAIN_FIELDS = (
    *("fingerprint", "status", "state", "session_id", "calendar_id", "scc_event_id", "calendar_hash", "scc_hash"),
    *("page_hash", "invalidated_hash", "invalidation_id", "last_error", "first_seen_at", "updated_at", "source"),
    "row_digest",
)
# Written only by stores/aftercare_marks.py; read with every whole record.
_AFTERCARE_FIELDS = (
    *("crew_alert_open", "crew_answers", "crew_checked_at", "retired_hash", "retired_at", "stuck_alert_open"),
)
_STEP_FP = tuple(f"{step}_fp" for step in STEPS)
# The attributes of a RecordSummary.
SUMMARY_ATTRIBUTES = ("booking_id", "row_digest", "state", "fingerprint", "order_key", *_STEP_FP)
# TransactWriteItems takes up to 100 actions: new records go in with a condition, 100 a call.
_TRANSACTION = 100


class StaleSnapshot(Exception):
    """A write for a booking's snapshot lost to a newer one: the ledger's fingerprint (or order key) moved on."""

    def __init__(self, booking_ids: Iterable[str]) -> None:
        self.booking_ids = sorted(booking_ids)
        super().__init__(f"a newer snapshot is recorded for {', '.join(self.booking_ids)}")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class BookingRecords:
    """The bookings' items: read whole or as summaries, snapshots saved, steps and failures recorded."""

    def __init__(self, hook: LedgerHook) -> None:
        self.hook = hook

    def get(self, booking_id: str) -> LedgerRecord | None:
        """The booking's record, read consistently, or None if it was never seen."""
        item = self.hook.get(booking_id)
        return record_from_item(item) if item else None

    def get_many(self, booking_ids: Iterable[str]) -> dict[str, LedgerRecord]:
        """Records of many bookings, 100 per call; ids never seen are simply absent."""
        return {record.booking_id: record for record in map(record_from_item, self.hook.batch_get(booking_ids))}

    def get_summaries(self, booking_ids: Iterable[str]) -> dict[str, RecordSummary]:
        """What the poll checks export rows against (only SUMMARY_ATTRIBUTES: the snapshot, most of an item, stays
        in the table; a full-history export names every booking ever made), 100 per call; unknown ids are absent."""
        summaries = map(summary_from_item, self.hook.batch_get(booking_ids, SUMMARY_ATTRIBUTES))
        return {summary.booking_id: summary for summary in summaries}

    def published_records(self, *, include_retired: bool = False) -> Iterator[LedgerRecord]:
        """Every booking that has anything published outside (a calendar entry, an SCC event or a guest page),
        whole records, retired ones only when ``include_retired``: a consistent Scan of the whole table (the ledger
        has no other index), which the hourly and daily DAGs can afford and the 15-minute poll never makes."""
        condition = "(attribute_exists(calendar_id) OR attribute_exists(scc_event_id) OR attribute_exists(page_hash))"
        if not include_retired:
            condition += " AND attribute_not_exists(retired_hash) AND attribute_not_exists(retired_at)"
        for item in self.hook.scan(condition=(condition, {})):
            if not str(item.get("booking_id", "#")).startswith("#"):
                yield record_from_item(item)

    def save_snapshots(self, records: Iterable[LedgerRecord], existing: Mapping[str, LedgerRecord]) -> int:
        """Store newer snapshots. ``existing`` holds the records as the caller read them.

        Known bookings are updated in place (artifact ids and step progress written by a task are never
        overwritten by the poll), on condition that their order key is still the one read; new ones are put
        100 at a time in a transaction, on condition that nobody created them meanwhile. Whatever lost such a race
        is written nowhere and raised as ``StaleSnapshot`` once the rest is stored: the caller reads those again
        and decides again, so a snapshot is never replaced by one it did not see."""
        fresh: list[LedgerRecord] = []
        lost: list[str] = []
        written = 0
        for written, record in enumerate(records, start=1):  # noqa: B007 (the count is the result)
            if record.booking_id in existing:
                try:
                    condition = _order_key_condition(existing[record.booking_id])
                    self._update(record.booking_id, _snapshot_fields(record), condition=condition)
                except StaleSnapshot:
                    lost.append(record.booking_id)
            else:
                fresh.append(record)
        for start in range(0, len(fresh), _TRANSACTION):
            lost += self._create(fresh[start : start + _TRANSACTION])
        if lost:
            raise StaleSnapshot(lost)
        return written

    def _create(self, records: list[LedgerRecord]) -> list[str]:
        """Put new records, each only if its booking has no item yet; returns the bookings that had one."""
        from charter_pipeline.hooks.ledger import ConditionFailed

        if self.hook.put_new([item_from_record(r) for r in records]):
            return []
        # Someone created some of them meanwhile (another poll): put one by one to learn which.
        lost: list[str] = []
        for record in records:
            try:
                self.hook.put(item_from_record(record), ("attribute_not_exists(booking_id)", {}))
            except ConditionFailed:
                lost.append(record.booking_id)
        return lost

    def record_step(self, booking_id: str, step: str, fingerprint: str, result: str, **artifacts: str) -> None:
        """Mark ``step`` done for ``fingerprint`` with a short human result, plus any artifact ids it made.

        Only while ``fingerprint`` is the booking's recorded snapshot: a step of an older snapshot (a cleared task
        of an older run) raises ``StaleSnapshot`` and records nothing, so it never marks a newer snapshot done nor
        overwrites the hashes of what a newer run sent."""
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}")
        values: dict[str, Any] = {f"{step}_fp": fingerprint, f"{step}_result": result, f"{step}_at": now_iso()}
        values[f"{step}_failure"] = ""  # done: its earlier failures no longer describe the booking
        values.update({k: v for k, v in artifacts.items() if v})
        self._update(booking_id, values, condition=_fingerprint_condition(fingerprint))

    def record_artifacts(self, booking_id: str, **artifacts: str) -> None:
        """Store artifact ids as soon as they exist, before the step is complete (a later failure keeps them)."""
        self._update(booking_id, {k: v for k, v in artifacts.items() if v})

    def record_failure(
        self, booking_id: str, step: str, message: str, fingerprint: str = "", *, kind: str = ""
    ) -> None:
        """Note a failed step: the next poll retries the booking, and the summary shows the reason. With a
        ``fingerprint``, only while that is the recorded snapshot (else ``StaleSnapshot``): an older snapshot's
        failure says nothing about the newer one. ``kind`` is the kind of answer (desk_alerts.FailureKind): the
        desk's publish_failed alert is one per step and kind (CONTRACT.md section 15)."""
        self._update(
            booking_id,
            {
                f"{step}_result": failed_result(message)[:500],
                f"{step}_at": now_iso(),
                "last_error": message[:500],
                f"{step}_failure": kind,
            },
            add={"attempts": 1},
            condition=_fingerprint_condition(fingerprint) if fingerprint else None,
        )

    def record_state(self, booking_id: str, state: str, *, clear_error: bool = False, fingerprint: str = "") -> None:
        """Set what the pipeline concluded for the booking; with a ``fingerprint``, only while that is the recorded
        snapshot (else ``StaleSnapshot``), so a summary of an older run never speaks for a newer snapshot."""
        values: dict[str, Any] = {"state": state, "updated_at": now_iso()}
        if clear_error:
            values.update(last_error="", attempts=0)
        self._update(booking_id, values, condition=_fingerprint_condition(fingerprint) if fingerprint else None)

    def claim_session_id(self, booking_id: str, candidate: str) -> str:
        """Store ``candidate`` as the booking's session id unless it already has one; return the one that holds."""
        # ALL_NEW: when two branches claim at once, the loser's update changes nothing, and moto (at least) then
        # leaves the attribute out of UPDATED_NEW.
        written = self.hook.update(booking_id, {}, if_absent={"session_id": candidate}, return_new=True)
        return str(written["session_id"])

    def _update(self, booking_id: str, values: Mapping[str, Any], **options: Any) -> None:
        """``LedgerHook.update``; a failed condition (the snapshot moved on) raises ``StaleSnapshot``."""
        from charter_pipeline.hooks.ledger import ConditionFailed

        try:
            self.hook.update(booking_id, values, **options)
        except ConditionFailed:
            raise StaleSnapshot([booking_id]) from None


def _fingerprint_condition(fingerprint: str) -> Condition:
    """While ``fingerprint`` is the booking's recorded snapshot (or there is none: a lost ledger)."""
    return "attribute_not_exists(#cfp) OR #cfp = :cfp", {"#cfp": "fingerprint", ":cfp": fingerprint}


def _order_key_condition(read: LedgerRecord) -> Condition:
    """While the booking's recorded snapshot is still the one ``read`` (its order key, as stored)."""
    if read.order_key is None:
        return "attribute_not_exists(#cok) OR #cok = :cnull", {"#cok": "order_key", ":cnull": "null"}
    return "#cok = :cok", {"#cok": "order_key", ":cok": json.dumps(read.order_key)}


def _snapshot_fields(record: LedgerRecord) -> dict[str, Any]:
    fields = {name: getattr(record, name) for name in ("fingerprint", "status", "source", "row_digest", "state")}
    snapshot = json.dumps(record.snapshot, sort_keys=True)
    return {"snapshot": snapshot, "order_key": json.dumps(record.order_key), **fields, "updated_at": record.updated_at}


def item_from_record(record: LedgerRecord) -> dict[str, Any]:
    """The item of a new record (empty strings are left out so if_not_exists works on them)."""
    item: dict[str, Any] = {"booking_id": record.booking_id, **_snapshot_fields(record)}
    item.update({name: getattr(record, name) for name in _PLAIN_FIELDS if getattr(record, name) and name not in item})
    item.update({f"{step}_fp": fingerprint for step, fingerprint in record.step_fingerprints.items()})
    if record.attempts:
        item["attempts"] = record.attempts
    return item


def summary_from_item(item: Mapping[str, Any]) -> RecordSummary:
    """A RecordSummary from an item (whole, or read with the summary's projection)."""
    # Attribute by attribute, no loop over the item: a poll makes one of these for every booking an export names.
    get = item.get
    order_key = get("order_key", "")
    return RecordSummary(
        booking_id=get("booking_id", ""),
        row_digest=get("row_digest", ""),
        state=get("state", ""),
        fingerprint=get("fingerprint", ""),
        step_fingerprints=tuple([get(name, "") for name in _STEP_FP]),
        order_key_text="" if order_key == "null" else order_key,  # "null": a record saved without a snapshot
    )


def record_from_item(item: Mapping[str, Any]) -> LedgerRecord:
    """A LedgerRecord from an item."""

    def text(name: str) -> str:
        return str(item.get(name) or "")

    snapshot, order_key = text("snapshot"), text("order_key")
    return LedgerRecord(
        booking_id=text("booking_id"),
        snapshot=json.loads(snapshot) if snapshot else None,
        order_key=json.loads(order_key) if order_key else None,
        step_fingerprints={step: text(f"{step}_fp") for step in STEPS if text(f"{step}_fp")},
        step_results={step: text(f"{step}_result") for step in STEPS if text(f"{step}_result")},
        step_failures={step: text(f"{step}_failure") for step in STEPS if text(f"{step}_failure")},
        attempts=int(item.get("attempts") or 0),
        **{name: text(name) for name in _PLAIN_FIELDS},
        alerts_sent=frozenset(item.get("alerts_sent", ())),
        **{name: text(name) for name in _AFTERCARE_FIELDS},
    )
