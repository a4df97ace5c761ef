"""One reconcile run over fakes of the services: the alert's once-only rules, pending work, one booking's failure."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from charter_pipeline.alerts import Alert
from charter_pipeline.booking import Booking, fingerprint
from charter_pipeline.config import PipelineConfig
from charter_pipeline.hooks.policy import ServiceUnavailable
from charter_pipeline.ledger import LedgerRecord
from charter_pipeline.reconcile.check import Reconcile
from charter_pipeline.reconcile.drift import SKIP_PENDING, sent_calendar, sent_scc_event
from charter_pipeline.task_runtime import Hooks
from tests.unit.test_reconcile_drift import make_booking, make_config, published


class FakeLedger:
    def __init__(self) -> None:
        self.alerts: list[tuple[str, str]] = []

    def record_alert_sent(self, booking_id: str, alert_id: str) -> None:
        self.alerts.append((booking_id, alert_id))


class FakeJada:
    def __init__(self, entries: dict[str, list[dict[str, Any]]]) -> None:
        self.entries = entries

    def find_entries(self, external_id: str) -> list[dict[str, Any]]:
        if external_id not in self.entries:
            raise ServiceUnavailable("JADA calendar answered 503 for GET /calendar")
        return self.entries[external_id]


class FakeScc:
    def __init__(self, events: dict[str, list[dict[str, Any]]]) -> None:
        self.events = events

    def find_events(self, external_ref: str) -> list[dict[str, Any]]:
        return self.events.get(external_ref, [])


class FakePortal:
    """Pages as published."""

    @staticmethod
    def page_content_hash(session_id: str) -> str:
        return "a" * 64


class FakeRepairs:
    """Clean SCC items."""

    def scrub_again(self, event_id: str) -> None:
        return None


class FakeAlerts:
    def __init__(self, *answers: Exception | str) -> None:
        self.answers = list(answers)
        self.sent: list[Alert] = []

    def send(self, alert: Alert) -> str:
        self.sent.append(alert)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def run(
    records: list[LedgerRecord],
    *,
    config: PipelineConfig,
    jada: FakeJada,
    scc: FakeScc,
    alerts: FakeAlerts,
    now: Any,
) -> tuple[dict[str, Any], FakeLedger]:
    ledger = FakeLedger()
    hooks = Hooks.from_config(config, aftercare=ledger, calendar=jada, scc=scc, portal=FakePortal(), alerts=alerts)
    reconcile = Reconcile(config, now, hooks, FakeRepairs())
    return reconcile.run(records), ledger


def as_stored(booking: Booking, config: PipelineConfig, **changes: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    record = published(booking, config)
    entry = {**sent_calendar(record, booking, config).payload, "id": "cal_1", **changes}
    event = {**sent_scc_event(record, booking, config).payload, "event_id": "evt-1", "status": "scheduled"}
    return entry, event


@pytest.fixture
def config() -> PipelineConfig:
    return make_config()


def test_a_refused_alert_is_sent_again_with_the_same_id_and_a_delivered_one_never(config: PipelineConfig) -> None:
    booking = make_booking()
    record = published(booking, config)
    entry, event = as_stored(booking, config, party_size=9)
    jada, scc = FakeJada({"boatsetter:BS-1001": [entry]}), FakeScc({"boatsetter:BS-1001": [event]})
    now = booking.start - timedelta(days=2)

    refused, ledger = run(
        [record], config=config, jada=jada, scc=scc, alerts=FakeAlerts(ServiceUnavailable("503")), now=now
    )
    [row] = refused["bookings"]
    assert row["outcome"] == "drift"
    assert row["alert"].startswith("failed: ServiceUnavailable")
    assert ledger.alerts == []  # not delivered: not remembered

    alerts = FakeAlerts("sent")
    delivered, ledger = run([record], config=config, jada=jada, scc=scc, alerts=alerts, now=now)
    [alert] = alerts.sent
    assert delivered["bookings"][0]["alert"] == f"sent ({alert.alert_id})"
    assert ledger.alerts == [("BS-1001", alert.alert_id)]
    assert alert.kind == "drift"
    assert "party_size is 9, the pipeline sent 6" in alert.text

    remembered = replace(record, alerts_sent=frozenset({alert.alert_id}))
    quiet = FakeAlerts()
    again, ledger = run([remembered], config=config, jada=jada, scc=scc, alerts=quiet, now=now)
    assert quiet.sent == []
    assert again["bookings"][0]["alert"] == f"already sent ({alert.alert_id})"

    # Another set of differences is another alert, listing them all.
    jada.entries["boatsetter:BS-1001"] = [{**entry, "status": "cancelled"}]
    louder = FakeAlerts("sent")
    run([remembered], config=config, jada=jada, scc=scc, alerts=louder, now=now)
    [second] = louder.sent
    assert second.alert_id != alert.alert_id
    assert "party_size is 9" in second.text
    assert "status is cancelled" in second.text


def test_pending_work_is_skipped_and_one_failing_booking_leaves_the_others_checked(config: PipelineConfig) -> None:
    steady = make_booking()
    moved = make_booking(booking_id="BS-1002", passengers=8)
    failing = make_booking(booking_id="BS-1003")
    pending = replace(published(moved, config), snapshot=replace(moved, passengers=10).to_dict())
    pending = replace(pending, fingerprint=fingerprint(replace(moved, passengers=10)))
    entry, event = as_stored(steady, config)
    jada = FakeJada({"boatsetter:BS-1001": [entry]})  # BS-1003's lookup fails
    scc = FakeScc({"boatsetter:BS-1001": [event]})
    records = [published(steady, config), pending, published(failing, config)]

    report, _ = run(records, config=config, jada=jada, scc=scc, alerts=FakeAlerts(), now=steady.start - timedelta(1))
    rows = {row["booking_id"]: row for row in report["bookings"]}
    assert rows["BS-1001"]["outcome"] == "in step"
    assert rows["BS-1002"]["outcome"] == "skipped"
    assert rows["BS-1002"]["note"] == SKIP_PENDING
    assert rows["BS-1003"]["outcome"] == "error"
    assert "ServiceUnavailable" in rows["BS-1003"]["note"]
    assert report["counts"] == {"in step": 1, "repaired": 0, "drift": 0, "skipped": 1, "error": 1, "ended": 0}


def test_ended_charters_are_counted_not_listed(config: PipelineConfig) -> None:
    booking = make_booking()
    report, _ = run(
        [published(booking, config)],
        config=config,
        jada=FakeJada({}),
        scc=FakeScc({}),
        alerts=FakeAlerts(),
        now=booking.end + timedelta(hours=1),
    )
    assert report["bookings"] == []
    assert report["counts"]["ended"] == 1
    assert report["counts"]["skipped"] == 0
