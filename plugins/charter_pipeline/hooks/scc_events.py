"""SccEventsTableHook: the money scrub of ShipCaptainCrew's own DynamoDB table (CONTRACT.md section 6).

SCC stores each event in ``scc_events_table`` under ``event_id`` and may add financial attributes and money
lines to ``notes`` by itself. After every create or update the pipeline removes them with one conditional
UpdateItem, never creating an item that is not there, and reads the item back to confirm.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import tenacity

from charter_pipeline.hooks.aws import AwsHook
from charter_pipeline.hooks.policy import ServiceError, ServiceUnavailable, aws_error_code

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

KEY = "event_id"
NOTES = "notes"
# Read-modify-write rounds before giving up: each lost round means SCC wrote the item between our read and write.
MAX_SCRUB_ROUNDS = 4


class SccEventNotFound(ServiceUnavailable):
    """The event is not (yet) in SCC's table. Transient: SCC may store an event after answering the POST."""


class ScrubNotConfirmed(ServiceError):
    """The read-back still holds money after the scrub: something keeps writing it. Loud on purpose."""


class _ReadAgain(Exception):
    """A round wrote (or lost its write to SCC's own): the next round's read is its read-back."""


@dataclass(frozen=True)
class ScrubReport:
    """What one scrub removed: attribute names, and how many lines of ``notes``."""

    event_id: str
    removed_attributes: list[str] = field(default_factory=list)
    removed_lines: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.removed_attributes or self.removed_lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for an XCom or the ledger."""
        return {
            "event_id": self.event_id,
            "removed_attributes": list(self.removed_attributes),
            "removed_lines": self.removed_lines,
        }


@dataclass(frozen=True)
class _ScrubPlan:
    money_attributes: list[str]
    notes: str | None  # the notes as read, when they are a string
    scrubbed_notes: str | None
    notes_present: bool

    @property
    def removed_lines(self) -> int:
        if self.notes is None or self.scrubbed_notes is None:
            return 0
        return len(self.notes.splitlines()) - len(self.scrubbed_notes.splitlines())

    @property
    def is_clean(self) -> bool:
        return not self.money_attributes and self.notes == self.scrubbed_notes


class SccEventsTableHook(AwsHook):
    """Scrubs money out of one SCC event item in DynamoDB, through the ``aws_default`` connection.

    Uses the low-level DynamoDB client (conditional updates are plainer there than on the resource).
    Each scrub costs one consistent GetItem, plus one UpdateItem and one more GetItem when there is money.

    :param table_name: SCC's events table (``scc_events_table``), partition key ``event_id`` (S).
    :param aws_conn_id: the AWS connection; its ``endpoint_url`` extra points at an emulator.
    :param is_money_attribute: / :param scrub_notes: the scrub rules; default to ``charter_pipeline.money_words``'s.
    """

    conn_type = "aws"
    hook_name = "ShipCaptainCrew events table"

    def __init__(
        self,
        table_name: str,
        aws_conn_id: str | None = AwsHook.default_conn_name,
        *,
        is_money_attribute: Callable[[str], bool] | None = None,
        scrub_notes: Callable[[str], str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(aws_conn_id=aws_conn_id, client_type="dynamodb", **kwargs)
        self.table_name = table_name
        self._is_money_attribute = is_money_attribute
        self._scrub_notes = scrub_notes

    @property
    def client(self) -> DynamoDBClient:
        """The low-level DynamoDB client (built once per hook)."""
        return self.conn

    def scrub_event(self, event_id: str) -> ScrubReport:
        """Remove every money attribute and money line of ``notes`` from the event; confirm by reading back.

        Only top-level attribute names are judged (never the key), and ``notes`` when it is a string; every
        line of it that is not money stays byte for byte. Raises SccEventNotFound when the item is missing
        (nothing is created), ScrubNotConfirmed when money is still there after ``MAX_SCRUB_ROUNDS`` rounds.
        """
        removed: list[str] = []
        removed_lines = 0
        # Each round reads (the previous round's read-back) and, while money is there, writes once more; no wait
        # between rounds: a lost write means SCC has just written, and the next read sees what it wrote.
        rounds = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(MAX_SCRUB_ROUNDS + 1),
            retry=tenacity.retry_if_exception_type(_ReadAgain),
            reraise=True,
        )
        for scrub_round in rounds:
            with scrub_round:
                item = self._get_item(event_id)
                if item is None:
                    raise SccEventNotFound(f"SCC event {event_id!r} is not in table {self.table_name!r} (yet)")
                plan = self._plan(item)
                if plan.is_clean:
                    report = ScrubReport(event_id, removed, removed_lines)
                    if report.changed:
                        self.log.info(
                            "Scrubbed SCC event %s: removed attributes %s and %d note line(s)",
                            event_id,
                            ", ".join(removed) or "none",
                            removed_lines,
                        )
                    return report
                if scrub_round.retry_state.attempt_number > MAX_SCRUB_ROUNDS:
                    raise ScrubNotConfirmed(
                        f"SCC event {event_id!r} still holds money after {MAX_SCRUB_ROUNDS} scrub rounds: "
                        f"attributes {plan.money_attributes or 'none'}, "
                        f"{'money lines in notes' if plan.notes != plan.scrubbed_notes else 'notes clean'}"
                    )
                if self._update_item(event_id, plan):
                    removed.extend(a for a in plan.money_attributes if a not in removed)
                    removed_lines += plan.removed_lines
                else:
                    self.log.info("SCC event %s changed while being scrubbed; reading it again", event_id)
                raise _ReadAgain
        raise AssertionError("unreachable: tenacity returns or raises")

    def _plan(self, item: dict[str, Any]) -> _ScrubPlan:
        is_money_attribute, scrub_notes = self._rules()
        money = sorted(name for name in item if name != KEY and name != NOTES and is_money_attribute(name))
        notes_value = item.get(NOTES)
        notes = notes_value.get("S") if isinstance(notes_value, dict) else None
        return _ScrubPlan(money, notes, scrub_notes(notes) if notes is not None else None, NOTES in item)

    def _get_item(self, event_id: str) -> dict[str, Any] | None:
        answer = self.client.get_item(TableName=self.table_name, Key={KEY: {"S": event_id}}, ConsistentRead=True)
        item = answer.get("Item")
        return item if item else None

    def _update_item(self, event_id: str, plan: _ScrubPlan) -> bool:
        """One conditional UpdateItem; False when the item changed (or vanished) since it was read."""
        names: dict[str, str] = {"#key": KEY}
        values: dict[str, Any] = {}
        clauses = []
        if plan.money_attributes:
            placeholders = []
            for index, name in enumerate(plan.money_attributes):
                names[f"#m{index}"] = name  # placeholders: SCC's names may be reserved words or hold odd characters
                placeholders.append(f"#m{index}")
            clauses.append("REMOVE " + ", ".join(placeholders))
        condition = "attribute_exists(#key)"
        if not plan.notes_present:
            names["#notes"] = NOTES
            condition += " AND attribute_not_exists(#notes)"
        elif plan.notes is not None:
            names["#notes"] = NOTES
            values[":read_notes"] = {"S": plan.notes}
            # Only overwrite the notes SCC had when we read them, never a newer version written meanwhile.
            condition += " AND #notes = :read_notes"
            if plan.scrubbed_notes != plan.notes:
                values[":notes"] = {"S": plan.scrubbed_notes}
                clauses.append("SET #notes = :notes")
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {KEY: {"S": event_id}},
            "UpdateExpression": " ".join(clauses),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
        }
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            self.client.update_item(**request)
        except Exception as exc:
            if aws_error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _rules(self) -> tuple[Callable[[str], bool], Callable[[str], str]]:
        is_money_attribute, scrub_notes = self._is_money_attribute, self._scrub_notes
        if is_money_attribute is None or scrub_notes is None:
            from charter_pipeline import money_words

            is_money_attribute = is_money_attribute or money_words.is_money_attribute
            scrub_notes = scrub_notes or money_words.scrub_notes
        return is_money_attribute, scrub_notes
