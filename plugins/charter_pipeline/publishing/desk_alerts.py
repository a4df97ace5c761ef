"""The desk hears about stuck bookings (CONTRACT.md section 15): ``publish_failed`` and ``publish_recovered``.

Decided by ``run_summary``, once every booking of the run has finished and its retries are spent, from the ledger:
a booking the run leaves out of sync is stuck; one whose publish_failed alert is still open and that the run
completed has recovered. (Not an ``on_failure_callback``: README, "Decisions where the contract left room".)

A situation is the set of (step, kind of answer) pairs of the steps that failed, plus how many recoveries came
before: one publish_failed per booking per distinct situation, so later polls failing the same way send nothing,
a booking that fails again after a recovery is news again, and ``alert_id`` stays stable for the run's resends.
The ledger keeps the ids delivered (``alerts_sent``) and the publish_failed alert still open (``stuck_alert_open``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from charter_pipeline.alerts import Alert, AlertDelivery, AlertKind, alert_findings, alert_id
from charter_pipeline.ledger import STEPS, LedgerRecord
from charter_pipeline.publishing.summary import OUTCOME_OF_ACTION, Outcome

if TYPE_CHECKING:
    from charter_pipeline.task_runtime import Hooks

log = logging.getLogger(__name__)

PUBLISH_FAILED = AlertKind.PUBLISH_FAILED
PUBLISH_RECOVERED = AlertKind.PUBLISH_RECOVERED


class FailureKind(StrEnum):
    """The kind of answer a failed step got: what the desk is told, and half of an alert's situation."""

    REFUSED = "refused the request"  # 400/422: the service's own message says why
    CREDENTIALS = "refused the credentials"  # 401/403: a connection's secret is wrong
    UNAVAILABLE = "unavailable"  # 429, 5xx, timeouts or dropped connections through every retry
    ERROR = "failed inside the pipeline"  # anything else: a bug, a bad Variable, an unexpected answer


# The steps in the operator's words, in the order of ledger.STEPS.
STEP_NAMES = {
    "calendar": "JADA calendar entry",
    "scc": "ShipCaptainCrew event",
    "scrub": "SCC notes scrub",
    "page": "guest page upload",
    "invalidation": "CloudFront invalidation",
}


def failure_kind(exc: BaseException) -> FailureKind:
    """The kind of answer behind ``exc``, as a step raised it (before Airflow's exceptions wrap it)."""
    from charter_pipeline.hooks.policy import (
        AWS_AUTH_CODES,
        AWS_TRANSIENT_CODES,
        ServiceAuthError,
        ServiceRejected,
        ServiceUnavailable,
    )

    if isinstance(exc, ServiceAuthError):
        return FailureKind.CREDENTIALS
    if isinstance(exc, ServiceRejected):
        return FailureKind.REFUSED
    if isinstance(exc, ServiceUnavailable):
        return FailureKind.UNAVAILABLE
    # A botocore ClientError a hook let through (policy.translate_aws_errors keeps only conditional writes as
    # such): read it by the same code sets the translation uses.
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping) and isinstance(response.get("Error"), Mapping):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        code = response["Error"].get("Code")
        if status in (401, 403) or code in AWS_AUTH_CODES:
            return FailureKind.CREDENTIALS
        if status >= 500 or status == 429 or code in AWS_TRANSIENT_CODES:
            return FailureKind.UNAVAILABLE
        return FailureKind.REFUSED
    if isinstance(exc, OSError | TimeoutError) or _is_transport_error(exc):
        return FailureKind.UNAVAILABLE
    return FailureKind.ERROR


def _is_transport_error(exc: BaseException) -> bool:
    # botocore's connection errors and requests' are not OSErrors; both mean nobody answered.
    from botocore.exceptions import HTTPClientError
    from requests import RequestException

    return isinstance(exc, HTTPClientError | RequestException)


def failed_steps(record: LedgerRecord, fingerprint: str) -> list[tuple[str, str]]:
    """(step, kind) of each step not done for ``fingerprint``, in step order; a step that never recorded a
    failure (its task died, or an upstream step failed) has no pair: it is waiting, not refused."""
    pending = record.pending_steps(fingerprint)
    return [(step, record.step_failures[step]) for step in pending if record.step_failures.get(step)]


def recoveries(record: LedgerRecord) -> int:
    """How many publish_recovered alerts the booking has had (``alert_id`` starts with the alert's kind)."""
    return sum(1 for sent in record.alerts_sent if sent.startswith(f"{PUBLISH_RECOVERED}-"))


def stuck_alert(record: LedgerRecord, fingerprint: str) -> Alert | None:
    """The publish_failed alert a booking left out of sync by this run calls for; None when already delivered."""
    failed = failed_steps(record, fingerprint)
    if not failed:
        pending = record.pending_steps(fingerprint)
        failed = [(pending[0] if pending else STEPS[0], FailureKind.ERROR.value)]
    episode = recoveries(record) + 1
    situation = [f"{step}: {kind}" for step, kind in failed] + [f"episode {episode}"]
    identifier = alert_id(PUBLISH_FAILED, record.booking_id, situation)
    if identifier in record.alerts_sent:
        return None
    head = f"Booking {record.booking_id} is stuck: not published after every retry of this run." + _charter(record)
    lines = [head] + [f"- {STEP_NAMES.get(step, step)}: the service {_kind_words(kind)}" for step, kind in failed]
    tail = ["The next poll tries it again; you hear again if it fails another way, and once it is published."]
    answer = f"Last answer: {record.last_error}" if record.last_error else ""
    text = "\n".join([*lines, answer, *tail] if answer else [*lines, *tail])
    if answer and alert_findings(text):
        # The service's message holds an amount or an address (a 422 quoting a money field): not for the desk's
        # channel. The run summary in the task log still has it.
        withheld = "Last answer: withheld here (it holds money or an address); see the run summary."
        text = "\n".join([*lines, withheld, *tail])
    return Alert(PUBLISH_FAILED, record.booking_id, text, identifier)


def recovered_alert(record: LedgerRecord) -> Alert | None:
    """The publish_recovered alert for a booking this run completed, when a publish_failed alert is open."""
    if not record.stuck_alert_open:
        return None
    identifier = alert_id(PUBLISH_RECOVERED, record.booking_id, [f"after {record.stuck_alert_open}"])
    if identifier in record.alerts_sent:
        return None
    text = f"Booking {record.booking_id} is published now: the steps that were stuck are done." + _charter(record)
    return Alert(PUBLISH_RECOVERED, record.booking_id, text + "\nNothing to do.", identifier)


def _kind_words(kind: str) -> str:
    try:
        return FailureKind(kind).value
    except ValueError:  # a kind a newer pipeline wrote: say it as it is
        return kind


@dataclass(frozen=True)
class DeskNote:
    """What the run did about one booking's alert, for the log and the summary's XCom."""

    booking_id: str
    kind: AlertKind
    alert_id: str
    delivery: AlertDelivery  # sent, logged (no connection) or failed
    error: str = ""  # why it failed

    def to_json(self) -> dict[str, str]:
        return {
            "booking_id": self.booking_id,
            "kind": str(self.kind),
            "alert_id": self.alert_id,
            "delivery": str(self.delivery),
            "error": self.error,
        }


def tell_the_desk(stuck: Mapping[str, str], completed: Iterable[str], hooks: Hooks) -> list[DeskNote]:
    """Send the alerts the run calls for: ``stuck`` maps each booking left out of sync to the fingerprint the run
    worked on; ``completed`` are the bookings it brought in sync. Each alert delivered (or logged, without the
    connection) is recorded at once; one that is not is reported and comes again with a later run."""
    from charter_pipeline.task_runtime import describe

    completed = list(completed)
    if not stuck and not completed:
        return []
    records = hooks.records.get_many([*stuck, *completed])
    notes: list[DeskNote] = []
    for booking_id in [*stuck, *completed]:
        record = records.get(booking_id)
        if record is None:
            continue  # never reached the ledger: nothing to remember an alert by; the run summary names it
        alert = stuck_alert(record, stuck[booking_id]) if booking_id in stuck else recovered_alert(record)
        if alert is None:
            continue
        try:
            how = hooks.alerts.send(alert)
            still_open = alert.alert_id if alert.kind == PUBLISH_FAILED else ""
            hooks.aftercare.record_alert_sent(booking_id, alert.alert_id, stuck_alert_open=still_open)
        # One alert's failure must not keep the desk from hearing about the others (CONTRACT.md section 8).
        except Exception as exc:
            notes.append(DeskNote(booking_id, alert.kind, alert.alert_id, AlertDelivery.FAILED, describe(exc)))
            log.warning("%s: %s alert %s not delivered: %s", booking_id, alert.kind, alert.alert_id, describe(exc))
        else:
            notes.append(DeskNote(booking_id, alert.kind, alert.alert_id, AlertDelivery(how)))
            log.info("%s: %s alert %s %s", booking_id, alert.kind, alert.alert_id, how)
    return notes


def desk_alerts_for(summary: Mapping[str, Any], work: Iterable[Mapping[str, Any]]) -> tuple[dict[str, str], list[str]]:
    """From the run's settled table: the bookings left failed (with the fingerprint worked on) and completed."""
    fingerprints = {item["booking_id"]: item["fingerprint"] for item in work}
    rows = summary["bookings"]
    stuck = {r["booking_id"]: fingerprints[r["booking_id"]] for r in rows if r["outcome"] == Outcome.FAILED}
    in_sync = set(OUTCOME_OF_ACTION.values())  # the outcomes of a booking the run brought in sync
    completed = [r["booking_id"] for r in rows if r["outcome"] in in_sync]
    return stuck, completed


def _charter(record: LedgerRecord) -> str:
    """The line naming the charter (boat and date; no guest, no money), or "" when the ledger has no snapshot."""
    booking = record.booking
    return f"\nCharter: {booking.boat}, {booking.trip_date.isoformat()}" if booking is not None else ""
