"""publish_failed / publish_recovered (CONTRACT.md section 15): which alert a run's outcome calls for, and when."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from botocore.exceptions import ClientError, ConnectionClosedError

from charter_pipeline.alerts import Alert, alert_findings
from charter_pipeline.booking import Booking, fingerprint
from charter_pipeline.hooks.policy import ServiceAuthError, ServiceRejected, ServiceUnavailable
from charter_pipeline.ledger import STEPS, LedgerRecord
from charter_pipeline.publishing.desk_alerts import (
    PUBLISH_FAILED,
    PUBLISH_RECOVERED,
    FailureKind,
    desk_alerts_for,
    failure_kind,
    recovered_alert,
    stuck_alert,
    tell_the_desk,
)

START = datetime(2026, 12, 4, 10, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
BOOKING = Booking(
    booking_id="BS-1001", status="approved", boat="Sea Breeze", renter_name="Jane Doe",
    renter_email="jane.doe@example.com", trip_date=START.date(), start=START, duration_hours=Decimal("3"),
    passengers=6, gross=Decimal("840.75"),
)  # fmt: skip
FP = fingerprint(BOOKING)
DONE_BUT_SCC = {step: FP for step in STEPS if step not in ("scc", "scrub")}
SCC_DOWN = "ServiceUnavailable: ShipCaptainCrew is unavailable after 4 attempts: POST /events answered HTTP 503"


def stuck(**changes: Any) -> LedgerRecord:
    """BS-1001 with its SCC event failing through every retry (the scrub waits for it)."""
    base = LedgerRecord(
        booking_id="BS-1001",
        snapshot=BOOKING.to_dict(),
        fingerprint=FP,
        step_fingerprints=dict(DONE_BUT_SCC),
        step_failures={"scc": FailureKind.UNAVAILABLE.value},
        last_error=SCC_DOWN,
    )
    return replace(base, **changes)


def delivered(record: LedgerRecord, alert: Alert) -> LedgerRecord:
    """The record after the alert was delivered, as tell_the_desk records it."""
    still_open = alert.alert_id if alert.kind == PUBLISH_FAILED else ""
    return replace(record, alerts_sent=record.alerts_sent | {alert.alert_id}, stuck_alert_open=still_open)


def aws_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ServiceRejected("JADA rejected it", status=422), FailureKind.REFUSED),
        (ServiceAuthError("refused the token of connection 'jada_dashboard'", status=401), FailureKind.CREDENTIALS),
        (ServiceUnavailable("SCC is unavailable after 4 attempts", status=503), FailureKind.UNAVAILABLE),
        (aws_error("ProvisionedThroughputExceededException", 400), FailureKind.UNAVAILABLE),
        (aws_error("SlowDown", 503), FailureKind.UNAVAILABLE),
        (aws_error("AccessDenied", 403), FailureKind.CREDENTIALS),
        (aws_error("ValidationException", 400), FailureKind.REFUSED),
        (ConnectionClosedError(endpoint_url="http://aws"), FailureKind.UNAVAILABLE),
        (requests.ReadTimeout("read timed out"), FailureKind.UNAVAILABLE),
        (ConnectionResetError(104, "reset"), FailureKind.UNAVAILABLE),
        (KeyError("calendar_id"), FailureKind.ERROR),
    ],
)
def test_failure_kind_is_read_from_the_error_not_its_text(exc: BaseException, kind: FailureKind) -> None:
    assert failure_kind(exc) is kind


def test_a_stuck_booking_gets_one_alert_naming_booking_step_and_answer() -> None:
    record = stuck()

    alert = stuck_alert(record, FP)

    assert alert is not None
    assert (alert.kind, alert.booking_id) == (PUBLISH_FAILED, "BS-1001")
    assert "BS-1001" in alert.text
    assert "ShipCaptainCrew event: the service unavailable" in alert.text
    assert "HTTP 503" in alert.text  # what the service answered
    assert alert_findings(alert.text) == []  # no money, no e-mail address
    assert "Jane" not in alert.text
    assert stuck_alert(delivered(record, alert), FP) is None, "a later poll failing the same way sends nothing"


def test_the_same_situation_keeps_its_id_whatever_the_message_and_a_new_one_gets_another() -> None:
    first = stuck_alert(stuck(), FP)
    later_words = stuck_alert(stuck(last_error="ServiceUnavailable: SCC answered HTTP 502 four times"), FP)
    refused = stuck_alert(stuck(step_failures={"scc": FailureKind.REFUSED.value}), FP)
    two_steps = stuck_alert(
        stuck(
            step_fingerprints=dict.fromkeys(("scrub", "invalidation"), FP),
            step_failures={"scc": "unavailable", "calendar": "unavailable", "page": "unavailable"},
        ),
        FP,
    )

    assert first is not None
    assert later_words is not None
    assert refused is not None
    assert two_steps is not None
    assert later_words.alert_id == first.alert_id
    assert len({first.alert_id, refused.alert_id, two_steps.alert_id}) == 3
    assert "JADA calendar entry" in two_steps.text
    assert "guest page upload" in two_steps.text


def test_a_service_message_holding_money_is_withheld_from_the_alert() -> None:
    alert = stuck_alert(
        stuck(
            step_failures={"calendar": "refused the request"},
            step_fingerprints={s: FP for s in STEPS if s != "calendar"},
            last_error="ServiceRejected: JADA answered 422: net_revenue: -400.00 must be >= 0 (ops@jada.example)",
        ),
        FP,
    )

    assert alert is not None
    assert alert_findings(alert.text) == []
    assert "withheld" in alert.text
    assert "JADA calendar entry: the service refused the request" in alert.text


def test_a_step_that_never_recorded_a_failure_is_named_as_failing_inside_the_pipeline() -> None:
    alert = stuck_alert(stuck(step_failures={}, last_error=""), FP)

    assert alert is not None
    assert "ShipCaptainCrew event: the service failed inside the pipeline" in alert.text


def test_recovery_follows_an_open_failed_alert_once_and_a_later_failure_is_news_again() -> None:
    record = stuck()
    failed = stuck_alert(record, FP)
    assert failed is not None
    record = delivered(record, failed)
    assert recovered_alert(stuck()) is None, "no recovery without a publish_failed before it"

    completed = replace(record, step_fingerprints=dict.fromkeys(STEPS, FP), step_failures={})
    recovered = recovered_alert(completed)
    assert recovered is not None
    assert (recovered.kind, recovered.booking_id) == (PUBLISH_RECOVERED, "BS-1001")
    assert alert_findings(recovered.text) == []
    completed = delivered(completed, recovered)
    assert recovered_alert(completed) is None, "one recovery per failed alert"

    again = stuck_alert(
        replace(completed, step_fingerprints=dict(DONE_BUT_SCC), step_failures=record.step_failures), FP
    )
    assert again is not None, "the same failure after a recovery is news again"
    assert again.alert_id != failed.alert_id


class FakeLedger:
    """BookingRecords.get_many and AftercareMarks.record_alert_sent over a dict."""

    def __init__(self, *records: LedgerRecord) -> None:
        self.records = {r.booking_id: r for r in records}
        self.sent: list[tuple[str, str, str | None]] = []

    def get_many(self, ids: list[str]) -> dict[str, LedgerRecord]:
        return {b: self.records[b] for b in ids if b in self.records}

    def record_alert_sent(self, booking_id: str, alert_id: str, *, stuck_alert_open: str | None = None) -> None:
        self.sent.append((booking_id, alert_id, stuck_alert_open))
        record = self.records[booking_id]
        self.records[booking_id] = replace(
            record, alerts_sent=record.alerts_sent | {alert_id}, stuck_alert_open=stuck_alert_open or ""
        )


class FakeDesk:
    def __init__(self, *, down_for: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.down_for = down_for
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> str:
        if alert.booking_id in self.down_for:
            raise ServiceUnavailable("Operations desk alerts is unavailable after 4 attempts")
        self.alerts.append(alert)
        return "sent"


def hooks(ledger: FakeLedger, desk: FakeDesk) -> Any:
    return SimpleNamespace(records=ledger, aftercare=ledger, alerts=desk)


def test_tell_the_desk_sends_records_and_goes_on_past_an_undelivered_alert() -> None:
    other = replace(stuck(), booking_id="BS-1002", snapshot=BOOKING.to_dict() | {"booking_id": "BS-1002"})
    ledger, desk = FakeLedger(stuck(), other), FakeDesk(down_for={"BS-1001"})

    notes = tell_the_desk({"BS-1001": FP, "BS-1002": FP, "BS-gone": FP}, [], hooks(ledger, desk))
    again = tell_the_desk({"BS-1002": FP}, [], hooks(ledger, desk))

    assert [(n.booking_id, n.delivery) for n in notes] == [("BS-1001", "failed"), ("BS-1002", "sent")]
    assert "unavailable after 4 attempts" in notes[0].error
    assert [a.booking_id for a in desk.alerts] == ["BS-1002"]
    assert [(b, open_ == a) for b, a, open_ in ledger.sent] == [("BS-1002", True)]
    assert again == [], "delivered once, never again"


def test_tell_the_desk_sends_the_recovery_and_clears_the_open_alert() -> None:
    failed = stuck_alert(stuck(), FP)
    assert failed is not None
    ledger = FakeLedger(
        replace(delivered(stuck(), failed), step_fingerprints=dict.fromkeys(STEPS, FP), step_failures={})
    )
    desk = FakeDesk()

    tell_the_desk({}, ["BS-1001"], hooks(ledger, desk))

    assert [a.kind for a in desk.alerts] == [PUBLISH_RECOVERED]
    assert ledger.records["BS-1001"].stuck_alert_open == ""


def test_the_run_table_says_which_bookings_are_stuck_and_which_completed() -> None:
    summary = {
        "bookings": [
            {"booking_id": "A", "outcome": "failed"},
            {"booking_id": "B", "outcome": "published"},
            {"booking_id": "C", "outcome": "superseded"},
            {"booking_id": "D", "outcome": "cancelled"},
        ]
    }
    work = [{"booking_id": b, "fingerprint": f"fp-{b}"} for b in "ABCD"]

    assert desk_alerts_for(summary, work) == ({"A": "fp-A"}, ["B", "D"])
