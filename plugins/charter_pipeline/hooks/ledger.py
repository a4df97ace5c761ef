"""LedgerHook: the pipeline's own DynamoDB table (``ledger_table``, partition key ``booking_id``).

Item layout (one per booking; the pipeline owns every attribute but the key):
  snapshot, order_key       JSON text of the winning export row and its ordering key
  row_digest                digest of that row as written (CSV), so the poll can skip it when it comes again
  fingerprint, status, source, state, session_id, calendar_id, scc_event_id, page_hash, invalidation_id
  <step>_fp, <step>_result, <step>_at   per step in ledger.STEPS: the fingerprint it last completed for
  attempts, last_error, first_seen_at, updated_at
  alerts_sent (string set), crew_alert_open, crew_answers, crew_checked_at, retired_hash, retired_at,
  retired_invalidation_id   aftercare bookkeeping (CONTRACT.md section 11), written only by its own methods
and one bookkeeping item ``#poll-state``: the export files already read (gzip JSON, so years of files fit the
400 KB item limit) and the backlog of bookings that still need work (failed, or beyond max_bookings_per_run).
Per month, one ``#charters starting in YYYY-MM`` item: booking id -> UTC start, for the staff page (index_charters).

Several processes write one item at the same moment (CONTRACT.md section 9: a booking's three branches, a cleared
task of an older run, the poll), so no write here is a blind read-then-write: step records and failures are
updates of their own attributes, conditional on the snapshot they were made for; snapshots are conditional on the
order key that was read; the poll state is versioned. docs/ARCHITECTURE.md "Concurrency" has the table.

A poll reads only SUMMARY_ATTRIBUTES of every booking its exports name, and whole items of those it decides.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from charter_pipeline.hooks.aws import AwsHook
from charter_pipeline.hooks.policy import aws_error_code
from charter_pipeline.ledger import DRIFT_REPORT_ID, POLL_STATE_ID, STEPS, LedgerRecord, RecordSummary

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient  # pragma: no cover

_PLAIN_FIELDS = (
    "fingerprint",
    "status",
    "state",
    "session_id",
    "calendar_id",
    "scc_event_id",
    "calendar_hash",
    "scc_hash",
    "page_hash",
    "invalidated_hash",
    "invalidation_id",
    "last_error",
    "first_seen_at",
    "updated_at",
    "source",
    "row_digest",
)
# Written only by the aftercare methods below; read with every whole record.
_AFTERCARE_FIELDS = ("crew_alert_open", "crew_answers", "crew_checked_at", "retired_hash", "retired_at")
_STEP_FP = tuple(f"{step}_fp" for step in STEPS)
_ABSENT: Mapping[str, str] = {}
# The attributes of a RecordSummary. "state" is a DynamoDB reserved word, hence names through placeholders.
SUMMARY_ATTRIBUTES = ("booking_id", "row_digest", "state", "fingerprint", "order_key", *_STEP_FP)
_SUMMARY_PROJECTION = {
    "ProjectionExpression": ", ".join(f"#a{number}" for number in range(len(SUMMARY_ATTRIBUTES))),
    "ExpressionAttributeNames": {f"#a{number}": name for number, name in enumerate(SUMMARY_ATTRIBUTES)},
}
# The month items of the staff page's charter index ("#" like POLL_STATE_ID: longer than any booking id).
CHARTER_INDEX_PREFIX = "#charters starting in "
# Booking ids per UpdateItem: 40 names of up to 64 characters stay well inside the 4 KB expression limit.
_INDEX_NAMES_PER_CALL = 40
# DynamoDB's limit: 100 keys per BatchGetItem.
_BATCH_GET = 100
# TransactWriteItems takes up to 100 actions: new records go in with a condition, 100 a call.
_TRANSACTION = 100
_ABSENT_ITEM: Mapping[str, Any] = {"ConditionExpression": "attribute_not_exists(booking_id)"}


@dataclass
class PollState:
    """What the poll remembers between runs: files read (uri -> version) and bookings still owed work.

    ``version`` and ``read_backlog`` are what ``get_poll_state`` read; ``save_poll_state`` writes only if nobody
    wrote in between, and otherwise applies this state's changes to what is there now (see there)."""

    files: dict[str, str] = field(default_factory=dict)
    backlog: list[str] = field(default_factory=list)
    version: int = 0
    read_backlog: list[str] | None = None  # None: not read from the ledger, so written as it is


class StaleSnapshot(Exception):
    """A write for a booking's snapshot lost to a newer one: the ledger's fingerprint (or order key) moved on."""

    def __init__(self, booking_ids: Iterable[str]) -> None:
        self.booking_ids = sorted(booking_ids)
        super().__init__(f"a newer snapshot is recorded for {', '.join(self.booking_ids)}")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class LedgerHook(AwsHook):
    """Reads and writes the charter booking ledger through the ``aws_default`` connection; its failures arrive
    translated (``AwsHook``: refused credentials fail fast naming the connection), conditional writes that lost
    their race as botocore's ClientError."""

    conn_name_attr = "aws_conn_id"
    default_conn_name = "aws_default"
    conn_type = "aws"
    hook_name = "Charter booking ledger"

    def __init__(self, table_name: str, aws_conn_id: str | None = default_conn_name, **kwargs: Any) -> None:
        super().__init__(aws_conn_id=aws_conn_id, client_type="dynamodb", **kwargs)
        self.table_name = table_name
        self.calls = 0  # outside calls made, for the run summary and benchmarks

    @property
    def client(self) -> DynamoDBClient:
        return self.get_conn()

    # --- booking records -------------------------------------------------------------------------------------
    def get(self, booking_id: str) -> LedgerRecord | None:
        """The booking's record, read consistently, or None if it was never seen."""
        self.calls += 1
        answer = self.client.get_item(
            TableName=self.table_name, Key={"booking_id": {"S": booking_id}}, ConsistentRead=True
        )
        item = answer.get("Item")
        return record_from_item(item) if item else None

    def get_many(self, booking_ids: Iterable[str]) -> dict[str, LedgerRecord]:
        """Records of many bookings, 100 per call; ids never seen are simply absent."""
        records = map(record_from_item, self._batch_get(booking_ids))
        return {record.booking_id: record for record in records}

    def get_summaries(self, booking_ids: Iterable[str]) -> dict[str, RecordSummary]:
        """What the poll checks export rows against, for many bookings, 100 per call; ids never seen are absent.

        Only SUMMARY_ATTRIBUTES are read: the snapshot, most of an item, stays in the table. A full-history export
        names every booking ever made, every poll, and most of them need nothing more than this.
        """
        summaries = map(summary_from_item, self._batch_get(booking_ids, _SUMMARY_PROJECTION))
        return {summary.booking_id: summary for summary in summaries}

    def _batch_get(self, booking_ids: Iterable[str], projection: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """The items of many bookings, read with BatchGetItem 100 keys a call, asking again for the keys DynamoDB
        left unprocessed (with the same projection: not relying on the answer to repeat it)."""
        ids = sorted(set(booking_ids))
        for start in range(0, len(ids), _BATCH_GET):
            keys: list[dict[str, Any]] = [{"booking_id": {"S": i}} for i in ids[start : start + _BATCH_GET]]
            while keys:
                self.calls += 1
                request: dict[str, Any] = {
                    self.table_name: {"Keys": keys, "ConsistentRead": True, **(projection or {})}
                }
                answer = self.client.batch_get_item(RequestItems=request)
                yield from answer.get("Responses", {}).get(self.table_name, [])
                unprocessed: dict[str, Any] = dict(answer.get("UnprocessedKeys") or {})
                keys = unprocessed.get(self.table_name, {}).get("Keys", [])

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
        for record in records:
            if record.booking_id in existing:
                try:
                    self._update(
                        record.booking_id,
                        _snapshot_fields(record),
                        condition=_order_key_condition(existing[record.booking_id]),
                    )
                except StaleSnapshot:
                    lost.append(record.booking_id)
                    continue
                written += 1
            else:
                fresh.append(record)
        for start in range(0, len(fresh), _TRANSACTION):
            chunk = fresh[start : start + _TRANSACTION]
            lost += self._create(chunk)
            written += len(chunk)
        written -= sum(1 for r in fresh if r.booking_id in lost)
        if lost:
            raise StaleSnapshot(lost)
        return written

    def _create(self, records: list[LedgerRecord]) -> list[str]:
        """Put new records, each only if its booking has no item yet; returns the bookings that had one."""
        from botocore.exceptions import ClientError

        puts: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table_name, "Item": item_from_record(r), **_ABSENT_ITEM}} for r in records
        ]
        self.calls += 1
        try:
            self.client.transact_write_items(TransactItems=puts)  # type: ignore[arg-type]
            return []
        except ClientError as exc:
            if aws_error_code(exc) != "TransactionCanceledException":
                raise
        # Someone created some of them meanwhile (another poll): put one by one to learn which.
        lost: list[str] = []
        for record in records:
            self.calls += 1
            try:
                self.client.put_item(TableName=self.table_name, Item=item_from_record(record), **_ABSENT_ITEM)
            except ClientError as exc:
                if aws_error_code(exc) != "ConditionalCheckFailedException":
                    raise
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
        values.update({k: v for k, v in artifacts.items() if v})
        self._update(booking_id, values, condition=_fingerprint_condition(fingerprint))

    def record_artifacts(self, booking_id: str, **artifacts: str) -> None:
        """Store artifact ids as soon as they exist, before the step is complete (a later failure keeps them)."""
        self._update(booking_id, {k: v for k, v in artifacts.items() if v})

    def record_failure(self, booking_id: str, step: str, message: str, fingerprint: str = "") -> None:
        """Note a failed step: the next poll retries the booking, and the summary shows the reason. With a
        ``fingerprint``, only while that is the recorded snapshot (else ``StaleSnapshot``): an older snapshot's
        failure says nothing about the newer one."""
        self._update(
            booking_id,
            {f"{step}_result": f"failed: {message}"[:500], f"{step}_at": now_iso(), "last_error": message[:500]},
            add_attempt=True,
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
        self.calls += 1
        answer = self.client.update_item(
            TableName=self.table_name,
            Key={"booking_id": {"S": booking_id}},
            UpdateExpression="SET session_id = if_not_exists(session_id, :candidate)",
            ExpressionAttributeValues={":candidate": {"S": candidate}},
            # ALL_NEW: when two branches claim at once, the loser's update changes nothing, and moto (at least)
            # then leaves the attribute out of UPDATED_NEW.
            ReturnValues="ALL_NEW",
        )
        return str(answer["Attributes"]["session_id"]["S"])

    def _update(
        self,
        booking_id: str,
        values: Mapping[str, Any],
        *,
        add_attempt: bool = False,
        condition: tuple[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """One UpdateItem that sets only ``values`` (other attributes are other writers'), under ``condition``
        (an expression over ``#c*`` names and ``:c*`` values); a failed condition raises ``StaleSnapshot``."""
        from botocore.exceptions import ClientError

        if not values and not add_attempt:
            return
        names = {f"#a{i}": name for i, name in enumerate(values)}
        expression = "SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(values))) if values else ""
        attribute_values = {f":v{i}": _attribute(value) for i, value in enumerate(values.values())}
        if add_attempt:
            expression += " ADD attempts :one"
            attribute_values[":one"] = {"N": "1"}
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"booking_id": {"S": booking_id}},
            "UpdateExpression": expression.strip(),
            "ExpressionAttributeValues": attribute_values,
        }
        if condition is not None:
            text, operands = condition
            request["ConditionExpression"] = text
            names.update({k: v for k, v in operands.items() if k.startswith("#")})
            attribute_values.update({k: v for k, v in operands.items() if k.startswith(":")})
        if names:
            request["ExpressionAttributeNames"] = names
        self.calls += 1
        try:
            self.client.update_item(**request)
        except ClientError as exc:
            if condition is not None and aws_error_code(exc) == "ConditionalCheckFailedException":
                raise StaleSnapshot([booking_id]) from None
            raise

    # --- aftercare (CONTRACT.md sections 11 and 12) -----------------------------------------------------------
    def published_records(self, *, include_retired: bool = False) -> Iterator[LedgerRecord]:
        """Every booking that has anything published outside (a calendar entry, an SCC event or a guest page),
        whole records, read with a consistent Scan; retired ones only when ``include_retired``.

        The ledger has no index but its key, so this reads the whole table once (DynamoDB filters after reading);
        callers that run hourly or daily (aftercare, reconcile, the staff page) can afford that, the 15-minute
        poll does not use it. Decide what is upcoming or ended from the records (``aftercare.crew_answers``)."""
        condition = "(attribute_exists(calendar_id) OR attribute_exists(scc_event_id) OR attribute_exists(page_hash))"
        if not include_retired:
            condition += " AND attribute_not_exists(retired_hash) AND attribute_not_exists(retired_at)"
        request: dict[str, Any] = {"TableName": self.table_name, "ConsistentRead": True, "FilterExpression": condition}
        while True:
            self.calls += 1
            answer = self.client.scan(**request)
            for item in answer.get("Items", []):
                if not item.get("booking_id", _ABSENT).get("S", "#").startswith("#"):
                    yield record_from_item(item)
            if not answer.get("LastEvaluatedKey"):
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def record_alert_sent(self, booking_id: str, alert_id: str, *, crew_alert_open: str | None = None) -> None:
        """Add ``alert_id`` to the booking's delivered alerts (a string set: parallel writers never lose one), and
        when given, set the crew alert awaiting an all-clear ("" once it is cleared), in the same update."""
        values: dict[str, Any] = {":sent": {"SS": [alert_id]}}
        expression = "ADD alerts_sent :sent"
        if crew_alert_open is not None:
            expression += " SET crew_alert_open = :open"
            values[":open"] = {"S": crew_alert_open}
        self.calls += 1
        self.client.update_item(
            TableName=self.table_name,
            Key={"booking_id": {"S": booking_id}},
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
        )

    def record_crew_answers(self, booking_id: str, answers_json: str) -> None:
        """The crew's answers as SCC last gave them (JSON, no e-mail addresses), with the time they were read."""
        self._update(booking_id, {"crew_answers": answers_json, "crew_checked_at": now_iso()})

    def record_page_retiring(self, booking_id: str, notice_hash: str) -> None:
        """Mark the guest page as being retired, before the notice is uploaded: from here on nothing publishes
        the page again, even if the upload or the invalidation fails and is retried by a later run."""
        self._update(booking_id, {"retired_hash": notice_hash})

    def record_page_retired(self, booking_id: str, invalidation_id: str) -> None:
        """The neutral notice is uploaded and invalidated: the retirement is complete."""
        values = {"retired_at": now_iso(), "retired_invalidation_id": invalidation_id}
        self._update(booking_id, {k: v for k, v in values.items() if v})

    # --- poll bookkeeping ------------------------------------------------------------------------------------
    def get_poll_state(self) -> PollState:
        self.calls += 1
        answer = self.client.get_item(
            TableName=self.table_name, Key={"booking_id": {"S": POLL_STATE_ID}}, ConsistentRead=True
        )
        item = answer.get("Item")
        if not item:
            return PollState(read_backlog=[])
        files = json.loads(gzip.decompress(item["files"]["B"])) if "files" in item else {}
        backlog = json.loads(item["backlog"]["S"]) if "backlog" in item else []
        version = int(item["version"]["N"]) if "version" in item else 0
        return PollState(files=files, backlog=backlog, version=version, read_backlog=list(backlog))

    def save_poll_state(self, state: PollState) -> None:
        """Write the poll state, if nobody wrote it since ``state`` was read (its ``version``).

        Both the poll (files read, bookings owed) and the run summary (bookings now in sync) rewrite this item, in
        different runs that may overlap (a cleared task, a manual trigger beside a scheduled poll). When someone
        did write in between, this state's own changes are applied to what is there now (files added; bookings
        added to and taken off the backlog since it was read) and written again, so neither loses the other's."""
        from botocore.exceptions import ClientError

        while True:
            self.calls += 1
            files = gzip.compress(json.dumps(state.files, sort_keys=True, separators=(",", ":")).encode(), mtime=0)
            request: dict[str, Any] = {
                "TableName": self.table_name,
                "Item": {
                    "booking_id": {"S": POLL_STATE_ID},
                    "files": {"B": files},
                    "backlog": {"S": json.dumps(sorted(set(state.backlog)))},
                    "updated_at": {"S": now_iso()},
                    "version": {"N": str(state.version + 1)},
                },
            }
            if state.read_backlog is not None:  # read from here: write only over what was read
                request["ExpressionAttributeNames"] = {"#version": "version"}
                request["ConditionExpression"] = "attribute_not_exists(#version)"
                if state.version:
                    request["ConditionExpression"] = "#version = :read"
                    request["ExpressionAttributeValues"] = {":read": {"N": str(state.version)}}
            try:
                self.client.put_item(**request)
                return
            except ClientError as exc:
                if aws_error_code(exc) != "ConditionalCheckFailedException":
                    raise
            now = self.get_poll_state()
            read = set(state.read_backlog or ())
            mine = set(state.backlog)
            now.backlog = sorted((set(now.backlog) | (mine - read)) - (read - mine))
            now.files = {**now.files, **state.files}
            state = now

    # --- the staff page's charter index ---------------------------------------------------------------------
    def index_charters(self, records: Iterable[LedgerRecord]) -> int:
        """Note each record's booking under the month its charter starts in (one small item per month).

        The ledger's only key is ``booking_id`` (CONTRACT.md section 2), so "charters starting between two dates"
        cannot be queried; a Scan costs the whole history. The "Charter bookings" page reads instead the few
        month items its dates cover, then the bookings they name in batches. Each booking is one attribute of its
        month's item (name: booking id, value: UTC start), set without reading first, so concurrent writers never
        overwrite each other; a booking that moved to another month stays behind as a stale name, which the page
        drops when the record's own start disagrees. Returns the number of calls made.
        """
        by_month: dict[str, dict[str, str]] = {}
        for record in records:
            booking = record.booking
            if booking is not None:
                start = booking.start.astimezone(UTC)
                by_month.setdefault(start.strftime("%Y-%m"), {})[record.booking_id] = start.isoformat()
        calls = 0
        for month, starts in sorted(by_month.items()):
            entries = sorted(starts.items())
            for first in range(0, len(entries), _INDEX_NAMES_PER_CALL):
                chunk = entries[first : first + _INDEX_NAMES_PER_CALL]
                self.calls += 1
                calls += 1
                self.client.update_item(
                    TableName=self.table_name,
                    Key={"booking_id": {"S": charter_index_id(month)}},
                    UpdateExpression="SET " + ", ".join(f"#b{i} = :s{i}" for i in range(len(chunk))),
                    ExpressionAttributeNames={f"#b{i}": booking_id for i, (booking_id, _) in enumerate(chunk)},
                    ExpressionAttributeValues={f":s{i}": {"S": start} for i, (_, start) in enumerate(chunk)},
                )
        return calls

    def index_existing_charters(self) -> tuple[int, int]:
        """Index every booking the ledger holds under the month its charter starts in: the one-off backfill for a
        ledger written before the index existed (the poll indexes each snapshot it records from then on). One
        Scan of the whole table, then ``index_charters``; safe to run again. Returns (bookings, outside calls)."""
        calls_before = self.calls
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "ProjectionExpression": "booking_id, #snapshot",
            "ExpressionAttributeNames": {"#snapshot": "snapshot"},  # a DynamoDB reserved word
            "ConsistentRead": True,
        }
        records: list[LedgerRecord] = []
        while True:
            self.calls += 1
            answer = self.client.scan(**request)
            for item in answer.get("Items", []):
                booking_id = item.get("booking_id", _ABSENT).get("S", "#")
                if not booking_id.startswith("#") and "snapshot" in item:
                    snapshot = json.loads(item["snapshot"]["S"])
                    records.append(LedgerRecord(booking_id=booking_id, snapshot=snapshot))
            if not answer.get("LastEvaluatedKey"):
                break
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        self.index_charters(records)
        return len(records), self.calls - calls_before

    def charters_starting(self, start: datetime, end: datetime) -> tuple[list[LedgerRecord], dict[str, str]]:
        """Records of the bookings whose charter starts in [start, end), as the month index names them, and
        each one's crew answers as stored (JSON text; absent when not known).

        Outside calls: one BatchGetItem for the month items (up to 100 months), then one per 100 bookings.
        """
        low, high = start.astimezone(UTC).isoformat(), end.astimezone(UTC).isoformat()
        named: set[str] = set()
        for item in self._batch_get([charter_index_id(month) for month in index_months(start, end)]):
            for name, value in item.items():
                if name != "booking_id" and low <= value.get("S", "") < high:
                    named.add(name)
        records, crew = self._records_and_crew(named)
        # The record's own start decides (a stale index name of a moved charter is dropped); read from the
        # snapshot alone, without building the whole Booking.
        found = [r for r in records if r.snapshot and start <= datetime.fromisoformat(r.snapshot["start"]) < end]
        return found, crew

    def backlog_records(self, limit: int = 200) -> tuple[list[LedgerRecord], dict[str, str]]:
        """Records of the bookings the poll state says are still owed work (failed, or beyond a run's maximum),
        and their crew answers as ``charters_starting`` gives them.

        Outside calls: one GetItem reading only the backlog, then one BatchGetItem per 100 bookings.
        """
        self.calls += 1
        answer = self.client.get_item(
            TableName=self.table_name,
            Key={"booking_id": {"S": POLL_STATE_ID}},
            ProjectionExpression="backlog",
        )
        backlog = json.loads(answer.get("Item", {}).get("backlog", {}).get("S", "[]"))
        return self._records_and_crew(backlog[:limit])

    def _records_and_crew(self, booking_ids: Iterable[str]) -> tuple[list[LedgerRecord], dict[str, str]]:
        records, crew = [], {}
        for item in self._batch_get(booking_ids):
            record = record_from_item(item)
            records.append(record)
            if "crew_answers" in item:
                crew[record.booking_id] = str(item["crew_answers"].get("S", ""))
        return records, crew

    # --- the drift report (charter_reconcile) ------------------------------------------------------------------
    def save_drift_report(self, report: Mapping[str, Any]) -> None:
        """Keep the last drift report (JSON, gzip: one row per booking checked) under ``DRIFT_REPORT_ID``."""
        self.calls += 1
        body = gzip.compress(json.dumps(report, sort_keys=True, separators=(",", ":")).encode(), mtime=0)
        self.client.put_item(
            TableName=self.table_name,
            Item={"booking_id": {"S": DRIFT_REPORT_ID}, "report": {"B": body}, "updated_at": {"S": now_iso()}},
        )

    def get_drift_report(self) -> dict[str, Any] | None:
        """The last drift report saved, or None before the first reconcile run."""
        self.calls += 1
        answer = self.client.get_item(
            TableName=self.table_name, Key={"booking_id": {"S": DRIFT_REPORT_ID}}, ConsistentRead=True
        )
        item = answer.get("Item")
        return json.loads(gzip.decompress(item["report"]["B"])) if item and "report" in item else None

    def test_connection(self) -> tuple[bool, str]:
        """Check that the ledger table exists and is reachable with this connection."""
        try:
            self.client.describe_table(TableName=self.table_name)
        except Exception as exc:  # any failure is the answer test_connection reports
            return False, f"ledger table {self.table_name!r}: {type(exc).__name__}"
        return True, f"ledger table {self.table_name!r} is reachable"


def charter_index_id(month: str) -> str:
    """The key of the index item for charters starting in ``month`` (YYYY-MM, UTC)."""
    return f"{CHARTER_INDEX_PREFIX}{month} (pipeline bookkeeping, not a booking)"


def index_months(start: datetime, end: datetime) -> list[str]:
    """The UTC months (YYYY-MM) that [start, end) touches, at most 100 (one BatchGetItem)."""
    months: list[str] = []
    year, month = start.astimezone(UTC).year, start.astimezone(UTC).month
    last = end.astimezone(UTC)
    while (year, month) <= (last.year, last.month) and len(months) < _BATCH_GET:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _fingerprint_condition(fingerprint: str) -> tuple[str, Mapping[str, Any]]:
    """While ``fingerprint`` is the booking's recorded snapshot (or there is none: a lost ledger)."""
    return (
        "attribute_not_exists(#cfp) OR #cfp = :cfp",
        {"#cfp": "fingerprint", ":cfp": {"S": fingerprint}},
    )


def _order_key_condition(read: LedgerRecord) -> tuple[str, Mapping[str, Any]]:
    """While the booking's recorded snapshot is still the one ``read`` (its order key, as stored)."""
    if read.order_key is None:
        return "attribute_not_exists(#cok) OR #cok = :cnull", {"#cok": "order_key", ":cnull": {"S": "null"}}
    return "#cok = :cok", {"#cok": "order_key", ":cok": {"S": json.dumps(read.order_key)}}


def _attribute(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    return {"S": str(value)}


def _snapshot_fields(record: LedgerRecord) -> dict[str, Any]:
    return {
        "snapshot": json.dumps(record.snapshot, sort_keys=True),
        "order_key": json.dumps(record.order_key),
        "fingerprint": record.fingerprint,
        "status": record.status,
        "source": record.source,
        "row_digest": record.row_digest,
        "state": record.state,
        "updated_at": record.updated_at,
    }


def item_from_record(record: LedgerRecord) -> dict[str, Any]:
    """The DynamoDB item of a new record (empty strings are left out so if_not_exists works on them)."""
    item: dict[str, Any] = {"booking_id": {"S": record.booking_id}}
    for name, value in _snapshot_fields(record).items():
        item[name] = {"S": value}
    for name in _PLAIN_FIELDS:
        value = getattr(record, name)
        if value and name not in item:
            item[name] = {"S": value}
    for step, fingerprint in record.step_fingerprints.items():
        item[f"{step}_fp"] = {"S": fingerprint}
    if record.attempts:
        item["attempts"] = {"N": str(record.attempts)}
    return item


def summary_from_item(item: Mapping[str, Any]) -> RecordSummary:
    """A RecordSummary from a DynamoDB item (whole, or read with the summary's projection)."""
    # Attribute by attribute, no loop over the item: a poll makes one of these for every booking an export names.
    get = item.get
    order_key = get("order_key", _ABSENT).get("S", "")
    return RecordSummary(
        booking_id=get("booking_id", _ABSENT).get("S", ""),
        row_digest=get("row_digest", _ABSENT).get("S", ""),
        state=get("state", _ABSENT).get("S", ""),
        fingerprint=get("fingerprint", _ABSENT).get("S", ""),
        step_fingerprints=tuple([get(name, _ABSENT).get("S", "") for name in _STEP_FP]),
        order_key_text="" if order_key == "null" else order_key,  # "null": a record saved without a snapshot
    )


def record_from_item(item: Mapping[str, Any]) -> LedgerRecord:
    """A LedgerRecord from a DynamoDB item in the client's typed form."""

    def text(name: str) -> str:
        value = item.get(name)
        return str(value["S"]) if value and "S" in value else ""

    snapshot = text("snapshot")
    order_key = text("order_key")
    attempts = item.get("attempts", {}).get("N")
    return LedgerRecord(
        booking_id=text("booking_id"),
        snapshot=json.loads(snapshot) if snapshot else None,
        order_key=json.loads(order_key) if order_key else None,
        step_fingerprints={step: text(f"{step}_fp") for step in STEPS if text(f"{step}_fp")},
        step_results={step: text(f"{step}_result") for step in STEPS if text(f"{step}_result")},
        attempts=int(attempts) if attempts else 0,
        **{name: text(name) for name in _PLAIN_FIELDS},
        alerts_sent=frozenset(item.get("alerts_sent", _ABSENT).get("SS", ())),
        **{name: text(name) for name in _AFTERCARE_FIELDS},
    )
