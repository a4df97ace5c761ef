"""OpsAlertsHook against the sandbox's alert receiver (CONTRACT.md section 11: alerts, failures as section 8)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from charter_pipeline.alerts import Alert, AlertRefused, alert_id
from charter_pipeline.hooks.ops_alerts import LOGGED, SENT, OpsAlertsHook
from charter_pipeline.hooks.policy import ServiceAuthError, ServiceUnavailable
from sandbox.alerts import AlertReceiver
from tests.hooks.stand_ins import Sleeps, fast_policy, http_conn_json

ALERTS_TOKEN = "ops-alerts-token-c93b51aa"


def pending_alert(booking_id: str = "BS-1001") -> Alert:
    situation = ["Sam Rivera (captain): accepted", "Lee Park (crew): pending"]
    text = "\n".join([f"Crew not confirmed for booking {booking_id}: Queen, Fri Dec 4 2026 10:00 AM", *situation])
    return Alert("crew_pending", booking_id, text, alert_id("crew_pending", booking_id, situation))


@pytest.fixture(autouse=True)
def token_never_logged(logged: Callable[[], str]) -> Iterator[None]:
    yield
    assert ALERTS_TOKEN not in logged()


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[AlertReceiver]:
    service = AlertReceiver(token=ALERTS_TOKEN).start()
    monkeypatch.setenv("AIRFLOW_CONN_OPS_ALERTS", http_conn_json(service.url, ALERTS_TOKEN))
    yield service
    service.stop()


def test_an_alert_is_posted_with_the_bearer_token_exactly_as_the_contract_body(
    receiver: AlertReceiver, sleeps: Sleeps
) -> None:
    alert = pending_alert()
    assert OpsAlertsHook(policy=fast_policy(sleeps)).send(alert) == SENT
    [got] = receiver.received()
    assert {k: got[k] for k in ("text", "kind", "booking_id", "alert_id")} == alert.to_json()
    assert receiver.logged("POST", "/alerts")[0]["body"] == alert.to_json()


def test_503_then_200_is_delivered_once(receiver: AlertReceiver, sleeps: Sleeps) -> None:
    receiver.inject(method="POST", path="/alerts", mode="status", status=503, count=1)
    assert OpsAlertsHook(policy=fast_policy(sleeps)).send(pending_alert()) == SENT
    assert [entry["status"] for entry in receiver.logged("POST", "/alerts")] == [503, 200]
    assert len(receiver.delivered()) == 1
    assert len(sleeps.waits) == 1


def test_a_receiver_down_through_every_retry_is_unavailable(receiver: AlertReceiver, sleeps: Sleeps) -> None:
    receiver.inject(method="POST", path="/alerts", mode="status", status=503, count=4)
    with pytest.raises(ServiceUnavailable, match="HTTP 503"):
        OpsAlertsHook(policy=fast_policy(sleeps)).send(pending_alert())
    assert receiver.received() == []


def test_401_fails_fast_naming_the_connection(
    receiver: AlertReceiver, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_OPS_ALERTS", http_conn_json(receiver.url, "a-wrong-token-0000"))
    with pytest.raises(ServiceAuthError, match="'ops_alerts'") as refused:
        OpsAlertsHook(policy=fast_policy(sleeps)).send(pending_alert())
    assert "a-wrong-token-0000" not in str(refused.value)
    assert len(receiver.logged("POST", "/alerts")) == 1
    assert sleeps.waits == []


def test_without_the_connection_the_alert_is_a_warning_and_counts_as_handled(
    logged: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_OPS_ALERTS", raising=False)
    alert = pending_alert()
    assert OpsAlertsHook().send(alert) == LOGGED
    text = logged()
    assert "No connection 'ops_alerts'" in text
    assert alert.alert_id in text
    assert "Lee Park (crew): pending" in text


def test_a_text_with_an_address_is_never_sent(receiver: AlertReceiver, sleeps: Sleeps) -> None:
    alert = Alert("crew_pending", "BS-1", "ask lee@example.com", alert_id("crew_pending", "BS-1", ["x"]))
    with pytest.raises(AlertRefused, match="e-mail address"):
        OpsAlertsHook(policy=fast_policy(sleeps)).send(alert)
    assert receiver.logged() == []


def test_without_a_password_no_authorization_header_is_sent(monkeypatch: pytest.MonkeyPatch, sleeps: Sleeps) -> None:
    with AlertReceiver() as open_receiver:
        monkeypatch.setenv("AIRFLOW_CONN_OPS_ALERTS", http_conn_json(open_receiver.url, ""))
        assert OpsAlertsHook(policy=fast_policy(sleeps)).send(pending_alert()) == SENT
        assert len(open_receiver.delivered()) == 1


def test_connection_test_proves_url_and_token_without_posting(receiver: AlertReceiver, sleeps: Sleeps) -> None:
    assert OpsAlertsHook(policy=fast_policy(sleeps)).test_connection()[0] is True
    assert receiver.logged("POST") == []
    receiver.inject(method="GET", path="/alerts", mode="status", status=401, count=1)
    ok, message = OpsAlertsHook(policy=fast_policy(sleeps)).test_connection()
    assert not ok
    assert "'ops_alerts'" in message
