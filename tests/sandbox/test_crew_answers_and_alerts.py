"""The stand-ins aftercare talks to: SCC's GET /events/{id} with crew answers and its magic-link answers, and
the operations desk's alert receiver (CONTRACT.md section 11)."""

from __future__ import annotations

from typing import Any

import requests

from sandbox.stack import SandboxStack
from tests.sandbox.service_bodies import TIMEOUT, call, create


def answers(stack: SandboxStack, event_id: str) -> dict[str, str]:
    got = call(stack, "GET", f"/events/{event_id}")
    assert got.status_code == 200, got.text
    return {member["name"]: member["response"] for member in got.json()["crew"]}


def link_of(stack: SandboxStack, email: str) -> str:
    return next(mail["link"] for mail in reversed(stack.scc.outbox()) if mail["to"] == email)


def test_get_event_answers_each_crew_member_pending_until_their_link_answers(stack: SandboxStack) -> None:
    event_id = create(stack)
    assert answers(stack, event_id) == {"Alex Rivera": "pending", "Sam Lee": "pending", "Kai Moana": "pending"}

    page = requests.get(link_of(stack, "sam@example.com"), timeout=TIMEOUT)
    assert "Accept" in page.text
    assert "Decline" in page.text
    form = requests.post(link_of(stack, "sam@example.com"), data={"response": "declined"}, timeout=TIMEOUT)
    assert form.status_code == 200
    assert "declined" in form.text
    as_json = requests.post(link_of(stack, "alex@example.com"), json={"response": "accepted"}, timeout=TIMEOUT)
    assert as_json.status_code == 200
    stack.scc.set_response(event_id, "Kai Moana", "accepted")  # no e-mail, no link: the inspector's way

    assert answers(stack, event_id) == {"Alex Rivera": "accepted", "Sam Lee": "declined", "Kai Moana": "accepted"}
    bad = requests.post(link_of(stack, "sam@example.com"), data={"response": "maybe"}, timeout=TIMEOUT)
    assert bad.status_code == 422


def test_an_update_keeps_the_answers_of_the_crew_it_keeps(stack: SandboxStack) -> None:
    event_id = create(stack)
    requests.post(link_of(stack, "alex@example.com"), data={"response": "accepted"}, timeout=TIMEOUT)
    crew: list[dict[str, Any]] = [
        {"name": "Alex Rivera", "email": "alex@example.com", "role": "captain"},
        {"name": "Robin Park", "email": "robin@example.com", "role": "crew"},
    ]
    assert call(stack, "PATCH", f"/events/{event_id}", json={"crew": crew}).status_code == 200
    assert answers(stack, event_id) == {"Alex Rivera": "accepted", "Robin Park": "pending"}


def test_get_event_needs_the_key_and_a_known_id(stack: SandboxStack) -> None:
    event_id = create(stack)
    assert call(stack, "GET", f"/events/{event_id}", key="wrong").status_code == 401
    assert call(stack, "GET", "/events/evt-unknown").status_code == 404


def test_the_alert_receiver_records_strict_alerts_and_marks_repeats(stack: SandboxStack) -> None:
    alert = {
        "text": "Crew not confirmed\nSam Lee: pending",
        "kind": "crew_pending",
        "booking_id": "BS-1",
        "alert_id": "a1",
    }
    auth = {"Authorization": f"Bearer {stack.alerts_token}"}
    assert requests.post(stack.alerts_url, json=alert, timeout=TIMEOUT).status_code == 401
    assert (
        requests.post(stack.alerts_url, json=alert, headers={"Authorization": "Bearer no"}, timeout=TIMEOUT).status_code
        == 401
    )
    assert requests.post(stack.alerts_url, json=alert, headers=auth, timeout=TIMEOUT).json() == {
        "received": "a1",
        "repeat": False,
    }
    assert requests.post(stack.alerts_url, json=alert, headers=auth, timeout=TIMEOUT).json()["repeat"] is True
    for bad, field in [
        ({**alert, "kind": "crew_late"}, "kind"),
        ({**alert, "extra": "x"}, "extra"),
        ({k: v for k, v in alert.items() if k != "alert_id"}, "alert_id"),
        ({**alert, "text": "ask sam@example.com"}, "text"),
        ({**alert, "text": "crew owed $25"}, "text"),
    ]:
        refused = requests.post(stack.alerts_url, json=bad, headers=auth, timeout=TIMEOUT)
        assert refused.status_code == 422, (bad, refused.text)
        assert field in refused.text
    assert [a["alert_id"] for a in stack.alerts.received()] == ["a1", "a1"]
    assert [a["alert_id"] for a in stack.alerts.delivered()] == ["a1"]
    stack.alerts.inject(method="POST", path="/alerts", status=503, count=1)
    assert requests.post(stack.alerts_url, json=alert, headers=auth, timeout=TIMEOUT).status_code == 503
    assert stack.alerts_token not in str(stack.state())


def test_the_inspector_shows_answers_with_buttons_alerts_received_and_retired_pages(stack: SandboxStack) -> None:
    from charter_pipeline.config import load_config
    from sandbox.inspector import InspectorSources, collect, render_html

    event_id = create(stack)
    stack.scc.set_response(event_id, "sam@example.com", "declined")
    alert = {
        "text": "Crew declined\nSam Lee: declined",
        "kind": "crew_declined",
        "booking_id": "BS-1",
        "alert_id": "a2",
    }
    auth = {"Authorization": f"Bearer {stack.alerts_token}"}
    assert requests.post(stack.alerts_url, json=alert, headers=auth, timeout=TIMEOUT).status_code == 200
    table = "ledger-inspector-aftercare"
    dynamodb = stack.boto3_client("dynamodb")
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "booking_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "booking_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(
        TableName=table,
        Item={
            "booking_id": {"S": "BS-9"},
            "session_id": {"S": "ABCDEFGHJKMNP"},
            "retired_hash": {"S": "n1"},
            "retired_at": {"S": "2026-12-08T09:00:00+00:00"},
        },
    )
    sources = InspectorSources(
        stack.jada_url,
        stack.scc_url,
        stack.moto_url,
        load_config({"ledger_table": table}),
        secrets=(stack.alerts_token, stack.scc_service_key),
        preview_url="http://127.0.0.1:8090",
        alerts_url=stack.alerts_url,
    )
    sections = {section.title.split(" (")[0]: section for section in collect(sources)}

    crew = sections["Crew answers"]
    by_name = {row[crew.columns.index("name")]: row for row in crew.rows}
    assert by_name["Sam Lee"][crew.columns.index("response")] == "declined"
    assert by_name["Alex Rivera"][crew.columns.index("response")] == "pending"
    assert by_name["Kai Moana"][crew.columns.index("answer")] == "(no e-mail: no magic link)"
    alerts = sections["Alerts received"]
    assert [row[alerts.columns.index("alert_id")] for row in alerts.rows] == ["a2"]
    retired = sections["Retired guest pages"]
    assert [row[retired.columns.index("guest_page")] for row in retired.rows] == [
        "http://127.0.0.1:8090/g/ABCDEFGHJKMNP"
    ]

    page = render_html(list(collect(sources)))
    assert f'action="{link_of(stack, "sam@example.com")}"' in page
    assert 'value="accepted">Accept</button>' in page
    assert stack.alerts_token not in page
