"""JadaCalendarHook and its base ServiceHttpHook against a real local HTTP server."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from airflow.sdk import Connection

from charter_pipeline.hooks.jada_calendar import JadaCalendarHook
from charter_pipeline.hooks.policy import ServiceAuthError, ServiceRejected, ServiceUnavailable
from charter_pipeline.hooks.service_http import base_url_of
from tests.hooks.stand_ins import JADA_TOKEN, FakeService, Sleeps, fast_policy, http_conn_json

EXTERNAL_ID = "boatsetter:BS-1001"


def entry(external_id: str = EXTERNAL_ID, **fields: object) -> dict[str, object]:
    return {
        "external_id": external_id,
        "event_type": "charter",
        "source": "boatsetter",
        "status": "confirmed",
        "boat": "Queen of San Diego",
        "gross_revenue": 840.75,
        **fields,
    }


def hook(sleeps: Sleeps, **policy_changes: object) -> JadaCalendarHook:
    return JadaCalendarHook(policy=fast_policy(sleeps, **policy_changes))


def test_create_find_update_carry_the_dashboard_token(jada: FakeService, sleeps: Sleeps) -> None:
    calendar = hook(sleeps)
    entry_id = calendar.create_entry(entry())
    assert calendar.find_entries(EXTERNAL_ID) == [{"id": entry_id, **entry()}]
    calendar.update_entry(entry_id, {"status": "cancelled"})

    assert jada.records[entry_id]["status"] == "cancelled"
    assert [(s.method, s.path) for s in jada.seen] == [
        ("POST", "/prod/calendar"),
        ("GET", "/prod/calendar"),
        ("PATCH", f"/prod/calendar/{entry_id}"),
    ]
    assert jada.seen[1].query == {"external_id": [EXTERNAL_ID]}
    assert all(s.headers["X-Dashboard-Token"] == JADA_TOKEN for s in jada.seen)
    assert all("Authorization" not in s.headers for s in jada.seen)
    assert sleeps.waits == []


def test_each_call_logs_one_info_line_without_body(
    jada: FakeService, sleeps: Sleeps, logged: Callable[[], str]
) -> None:
    hook(sleeps).create_entry(entry())
    text = logged()
    lines = [line for line in text.splitlines() if "JADA calendar POST" in line]
    assert len(lines) == 1
    assert "/calendar -> 201 in" in lines[0]
    assert "840.75" not in text


@pytest.mark.parametrize("status", ["401", "403"])
def test_refused_token_fails_fast_naming_the_connection(jada: FakeService, sleeps: Sleeps, status: str) -> None:
    jada.fail_next("GET", status)
    with pytest.raises(ServiceAuthError) as raised:
        hook(sleeps).find_entries(EXTERNAL_ID)
    assert str(raised.value) == (
        f"JADA calendar refused the dashboard token of connection 'jada_dashboard' (HTTP {status}). "
        "Check the connection's password."
    )
    assert len(jada.seen) == 1
    assert sleeps.waits == []


def test_wrong_token_is_refused_by_the_service(
    monkeypatch: pytest.MonkeyPatch, jada: FakeService, sleeps: Sleeps
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_JADA_DASHBOARD", http_conn_json(jada.url, "stale-token"))
    with pytest.raises(ServiceAuthError, match="'jada_dashboard'"):
        hook(sleeps).create_entry(entry())
    assert jada.records == {}
    ok, message = hook(sleeps).test_connection()
    assert not ok
    assert "'jada_dashboard'" in message
    assert "stale-token" not in message


def test_connection_without_password_is_an_auth_error(monkeypatch: pytest.MonkeyPatch, jada: FakeService) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_JADA_DASHBOARD", json.dumps({"conn_type": "http", "host": jada.url}))
    with pytest.raises(ServiceAuthError, match="connection 'jada_dashboard' has no password"):
        JadaCalendarHook().find_entries(EXTERNAL_ID)
    assert jada.seen == []


def test_422_carries_the_service_message_and_is_not_retried(jada: FakeService, sleeps: Sleeps) -> None:
    jada.fail_next("POST", "422")
    with pytest.raises(ServiceRejected) as raised:
        hook(sleeps).create_entry(entry())
    assert raised.value.status == 422
    assert raised.value.service_message == "party_size must be at most 150"
    assert "party_size must be at most 150" in str(raised.value)
    assert len(jada.calls("POST")) == 1
    assert jada.calls("GET") == []


@pytest.mark.parametrize("status", ["400", "404"])
def test_other_4xx_on_patch_are_rejected_without_retry(jada: FakeService, sleeps: Sleeps, status: str) -> None:
    jada.fail_next("PATCH", status)
    with pytest.raises(ServiceRejected, match=f"HTTP {status}"):
        hook(sleeps).update_entry("calendar-9", {"status": "cancelled"})
    assert len(jada.calls("PATCH")) == 1


def test_a_5xx_burst_then_success_is_retried_with_backoff(jada: FakeService, sleeps: Sleeps) -> None:
    entry_id = jada.add_record(entry())
    jada.fail_next("GET", "500", "500")
    assert [e["id"] for e in hook(sleeps).find_entries(EXTERNAL_ID)] == [entry_id]
    assert len(jada.calls("GET")) == 3
    assert sleeps.waits == [0.5, 1.0]


def test_persistent_5xx_ends_unavailable_after_the_policy_attempts(jada: FakeService, sleeps: Sleeps) -> None:
    jada.fail_next("PATCH", "503", "503", "503", "503", "503")
    jada.retry_after = ""
    with pytest.raises(ServiceUnavailable, match="after 4 attempt"):
        hook(sleeps).update_entry("calendar-1", {"status": "cancelled"})
    assert len(jada.calls("PATCH")) == 4
    assert sleeps.waits == [0.5, 1.0, 2.0]


def test_429_waits_as_long_as_retry_after_asks_within_the_cap(jada: FakeService, sleeps: Sleeps) -> None:
    jada.fail_next("GET", "429")
    jada.retry_after = "7"
    assert hook(sleeps).find_entries(EXTERNAL_ID) == []
    jada.fail_next("GET", "429")
    jada.retry_after = "86400"
    assert hook(sleeps).find_entries(EXTERNAL_ID) == []
    assert sleeps.waits == [7.0, 30.0]


def test_read_timeout_is_enforced_and_retried(jada: FakeService, sleeps: Sleeps) -> None:
    jada.fail_next("GET", "hang", "hang", "hang", "hang")
    with pytest.raises(ServiceUnavailable, match="timed out"):
        hook(sleeps).find_entries(EXTERNAL_ID)
    assert len(jada.calls("GET")) == 4


def test_dropped_connection_on_get_is_retried(jada: FakeService, sleeps: Sleeps) -> None:
    jada.fail_next("GET", "drop")
    assert hook(sleeps).find_entries(EXTERNAL_ID) == []
    assert len(jada.calls("GET")) == 2


def test_lost_answer_on_create_is_found_not_repeated(jada: FakeService, sleeps: Sleeps) -> None:
    jada.fail_next("POST", "create_then_drop")
    entry_id = hook(sleeps).create_entry(entry())
    assert list(jada.records) == [entry_id]
    assert [s.method for s in jada.seen] == ["POST", "GET"]


def test_create_that_times_out_after_storing_is_found(jada: FakeService, sleeps: Sleeps) -> None:
    jada.fail_next("POST", "create_then_hang")
    entry_id = hook(sleeps).create_entry(entry())
    assert list(jada.records) == [entry_id]
    assert len(jada.calls("POST")) == 1


def test_create_dropped_before_storing_is_posted_again_once(jada: FakeService, sleeps: Sleeps) -> None:
    jada.fail_next("POST", "drop", "500")
    entry_id = hook(sleeps).create_entry(entry())
    assert list(jada.records) == [entry_id]
    assert [s.method for s in jada.seen] == ["POST", "GET", "POST", "GET", "POST"]


def test_create_answered_without_id_is_found(jada: FakeService, sleeps: Sleeps) -> None:
    jada.fail_next("POST", "no_id")
    entry_id = hook(sleeps).create_entry(entry())
    assert list(jada.records) == [entry_id]


def test_create_that_never_succeeds_is_unavailable_and_makes_nothing(jada: FakeService, sleeps: Sleeps) -> None:
    jada.fail_next("POST", "500", "500", "500", "500")
    with pytest.raises(ServiceUnavailable, match="POST /calendar after 4 attempt"):
        hook(sleeps).create_entry(entry())
    assert jada.records == {}
    assert [s.method for s in jada.seen] == ["POST", "GET", "POST", "GET", "POST", "GET", "POST", "GET"]


def test_conflict_on_create_returns_the_existing_entry(jada: FakeService, sleeps: Sleeps) -> None:
    existing = jada.add_record(entry())
    jada.fail_next("POST", "409")
    assert hook(sleeps).create_entry(entry()) == existing
    assert len(jada.records) == 1


def test_a_cancelled_earlier_entry_is_not_taken_for_the_lost_create(jada: FakeService, sleeps: Sleeps) -> None:
    old = jada.add_record(entry(status="cancelled"))
    jada.fail_next("POST", "create_then_drop")
    new = hook(sleeps).create_entry(entry())
    assert new != old
    assert sorted(jada.records) == sorted([old, new])


def test_lookup_ignores_entries_of_other_bookings(jada: FakeService, sleeps: Sleeps) -> None:
    jada.add_record(entry("boatsetter:BS-2002"))
    mine = jada.add_record(entry())
    jada.fail_next("GET", "ignore_query")
    assert [e["id"] for e in hook(sleeps).find_entries(EXTERNAL_ID)] == [mine]


def test_secret_echoed_by_the_service_never_reaches_the_message(jada: FakeService, sleeps: Sleeps) -> None:
    jada.fail_next("POST", "echo_secret")
    with pytest.raises(ServiceRejected) as raised:
        hook(sleeps).create_entry(entry())
    assert JADA_TOKEN not in str(raised.value)
    assert JADA_TOKEN not in raised.value.service_message
    assert "***" in raised.value.service_message


def test_redirects_are_refused_and_the_token_stays_home(jada: FakeService, sleeps: Sleeps) -> None:
    elsewhere = FakeService(
        collection="calendar", key_field="external_id", id_field="id", header="X-Dashboard-Token", header_value="x"
    ).start()
    try:
        jada.redirect_to = elsewhere.url
        jada.fail_next("GET", "redirect")
        with pytest.raises(ServiceRejected, match="redirect"):
            hook(sleeps).find_entries(EXTERNAL_ID)
        assert elsewhere.seen == []
    finally:
        elsewhere.stop()


def test_test_connection_reports_success(jada: FakeService, sleeps: Sleeps) -> None:
    ok, message = hook(sleeps).test_connection()
    assert ok
    assert jada.url in message
    assert jada.calls("POST") == []


def test_uri_form_connection_puts_the_stage_back_in_the_path(
    monkeypatch: pytest.MonkeyPatch, jada: FakeService, sleeps: Sleeps
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_JADA_DASHBOARD", f"http://:{JADA_TOKEN}@127.0.0.1:{jada.port}/prod")
    calendar = hook(sleeps)
    assert calendar.base_url == jada.url
    calendar.find_entries(EXTERNAL_ID)
    assert jada.seen[0].path == "/prod/calendar"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"host": "https://abc.execute-api.us-west-2.amazonaws.com/prod/"},
            "https://abc.execute-api.us-west-2.amazonaws.com/prod",
        ),
        ({"host": "http://127.0.0.1/prod", "port": 8080}, "http://127.0.0.1:8080/prod"),
        ({"host": "abc.example.com", "schema": "prod", "port": 443}, "https://abc.example.com:443/prod"),
        ({"conn_type": "https", "host": "abc.example.com", "schema": "/v1/"}, "https://abc.example.com/v1"),
        ({"host": "abc.example.com", "extra": json.dumps({"scheme": "https"})}, "https://abc.example.com"),
        ({"host": "localhost", "port": 8765}, "http://localhost:8765"),
    ],
)
def test_base_url_from_the_connection(fields: dict[str, object], expected: str) -> None:
    conn = Connection(conn_id="jada_dashboard", **{"conn_type": "http", **fields})  # type: ignore[arg-type]
    assert base_url_of(conn) == expected


@pytest.mark.parametrize("host", ["", "ftp://files.example.com/x"])
def test_base_url_must_be_http(host: str) -> None:
    with pytest.raises(ServiceRejected, match="'jada_dashboard'"):
        base_url_of(Connection(conn_id="jada_dashboard", conn_type="http", host=host))


def test_https_uri_form_keeps_scheme_and_stage() -> None:
    conn = Connection.from_uri("https://:tok%2Fen@abc.execute-api.us-west-2.amazonaws.com/prod", conn_id="scc_api")
    assert base_url_of(conn) == "https://abc.execute-api.us-west-2.amazonaws.com/prod"
