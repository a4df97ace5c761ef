"""One reconcile run over fakes of the services: the alert's once-only rules, pending work, one booking's failure."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from charter_pipeline.alerts import Alert, AlertDelivery
from charter_pipeline.booking import Booking, fingerprint
from charter_pipeline.config import PipelineConfig
from charter_pipeline.hooks.policy import ServiceUnavailable
from charter_pipeline.ledger import LedgerRecord
from charter_pipeline.reconcile.check import Reconcile
from charter_pipeline.reconcile.drift import SKIP_PENDING, Difference, sent_calendar, sent_scc_event
from charter_pipeline.task_runtime import Hooks
from tests.factories import make_booking, make_config, published


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
    assert row["delivery"] == AlertDelivery.FAILED
    assert ledger.alerts == []  # not delivered: not remembered

    alerts = FakeAlerts("sent")
    delivered, ledger = run([record], config=config, jada=jada, scc=scc, alerts=alerts, now=now)
    [alert] = alerts.sent
    assert delivered["bookings"][0]["alert"] == f"sent ({alert.alert_id})"
    assert delivered["bookings"][0]["delivery"] == AlertDelivery.SENT
    assert ledger.alerts == [("BS-1001", alert.alert_id)]
    assert alert.kind == "drift"
    assert "party_size is 9, the pipeline sent 6" in alert.text

    remembered = replace(record, alerts_sent=frozenset({alert.alert_id}))
    quiet = FakeAlerts()
    again, ledger = run([remembered], config=config, jada=jada, scc=scc, alerts=quiet, now=now)
    assert quiet.sent == []
    assert again["bookings"][0]["alert"] == f"already sent ({alert.alert_id})"
    assert again["bookings"][0]["delivery"] == AlertDelivery.ALREADY_SENT

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


class MissingPage:
    """A guest bucket without the page."""

    @staticmethod
    def page_content_hash(session_id: str) -> None:
        return None


class RecordingRepairs(FakeRepairs):
    """A missing guest page; every repair asked of it is noted."""

    def __init__(self) -> None:
        self.done: list[str] = []

    def scrub_again(self, event_id: str) -> None:
        self.done.append(f"scrub {event_id}")

    def put_page_back(self, record: LedgerRecord, booking: Booking, found: Difference) -> Difference:
        self.done.append(f"page {record.session_id}")
        return replace(found, repair="uploaded again")


def test_compare_only_reads_and_repair_puts_right_what_it_found(config: PipelineConfig) -> None:
    booking = make_booking()
    record = published(booking, config)
    entry, event = as_stored(booking, config)
    repairs = RecordingRepairs()
    jada, scc = FakeJada({"boatsetter:BS-1001": [entry]}), FakeScc({"boatsetter:BS-1001": [event]})
    hooks = Hooks.from_config(config, calendar=jada, scc=scc, portal=MissingPage())
    reconcile = Reconcile(config, booking.start - timedelta(days=2), hooks, repairs)

    found = reconcile.compare(record, booking)
    assert repairs.done == []  # comparing changes nothing
    assert found.differences == []
    assert found.scc_event_listed
    assert found.page is not None
    assert found.page.what == "is missing from the bucket"

    repaired = reconcile.repair(record, booking, found)
    assert repairs.done == [f"scrub {record.scc_event_id}", f"page {record.session_id}"]
    assert [d.repair for d in repaired] == ["uploaded again"]


def test_the_drift_summary_fails_on_an_undelivered_alert_not_on_its_words() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from charter_pipeline.reconcile import tasks

    def report(delivery: str, alert: str) -> dict[str, Any]:
        row = {"booking_id": "BS-1", "guest": "Jane", "charter_date": "2026-12-01", "outcome": "drift",
               "differences": ["JADA entry: is missing"], "repairs": [], "alert": alert, "note": "",
               "delivery": delivery}  # fmt: skip
        return {"checked_at": "2026-11-30T00:00:00+00:00", "counts": {"drift": 1}, "bookings": [row]}

    saved: list[Any] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tasks, "pipeline_config", make_config)
        patch.setattr("charter_pipeline.stores.drift_reports.DriftReports.save_drift_report",
                      lambda _, r: saved.append(r))  # fmt: skip
        # Words that read like a failure decide nothing: the delivery does.
        assert tasks.summary_task(report(AlertDelivery.SENT, "failed-looking words")) is not None
        with pytest.raises(AirflowFailException, match="1 drift alert"):
            tasks.summary_task(report(AlertDelivery.FAILED, "failed: ServiceUnavailable"))
    assert len(saved) == 2
