"""The JADA calendar stand-in: auth, strict field checks, not idempotent, lookups, PATCH merges."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from sandbox.jada import DEFAULT_DASHBOARD_TOKEN
from sandbox.stack import SandboxStack
from tests.sandbox.service_bodies import calendar_entry

TIMEOUT = 5


def call(
    stack: SandboxStack,
    method: str,
    path: str,
    *,
    token: str | None = DEFAULT_DASHBOARD_TOKEN,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> requests.Response:
    sent = {**(headers or {}), **({"X-Dashboard-Token": token} if token is not None else {})}
    return requests.request(method, stack.jada_url + path, headers=sent, timeout=TIMEOUT, **kwargs)


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_a_call_without_the_right_token_is_refused_and_stores_nothing(stack: SandboxStack, token: str | None) -> None:
    answer = call(stack, "POST", "/calendar", token=token, json=calendar_entry())

    assert answer.status_code == 401
    assert "X-Dashboard-Token" in answer.json()["message"]
    assert stack.jada.entries() == []
    assert call(stack, "GET", "/calendar", token=token).status_code == 401


def test_post_is_not_idempotent_and_lookup_finds_every_entry(stack: SandboxStack) -> None:
    first = call(stack, "POST", "/calendar", json=calendar_entry())
    second = call(stack, "POST", "/calendar", json=calendar_entry())
    call(stack, "POST", "/calendar", json=calendar_entry("BS-2002"))

    assert first.status_code == second.status_code == 201
    ids = {first.json()["id"], second.json()["id"]}
    assert len(ids) == 2
    assert all(i.startswith("cal_") for i in ids)
    found = call(stack, "GET", "/calendar", params={"external_id": "boatsetter:BS-1001"}).json()["items"]
    assert {item["id"] for item in found} == ids
    assert found[0]["net_revenue"] == 289.41
    assert found[0]["crew_assignments"][1]["name"] == "Sam Lee"
    assert call(stack, "GET", "/calendar", params={"external_id": "boatsetter:none"}).json() == {"items": []}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"external_id": "BS-1001"}, "external_id"),
        ({"event_type": "meeting"}, "event_type"),
        ({"source": "airbnb"}, "source"),
        ({"status": "approved"}, "status"),
        ({"charter_date": "12/04/2026"}, "charter_date"),
        ({"start": "2026-12-04T10:00:00"}, "start"),
        ({"end": "2026-12-04T09:00:00-08:00"}, "end"),
        ({"charter_date": "2026-12-05"}, "charter_date"),
        ({"duration_hours": "3"}, "duration_hours"),
        ({"party_size": 0}, "party_size"),
        ({"party_size": True}, "party_size"),
        ({"gross_revenue": "840.75"}, "gross_revenue"),
        ({"port_fee": 151.345}, "port_fee"),
        ({"crew_cost": -1}, "crew_cost"),
        (
            {"crew_assignments": [{"role": "crew", "name": "Sam", "hours": 5, "hourly_rate": 25}]},
            "crew_assignments[0].cost",
        ),
        ({"guest_url": "queenofsandiego.com/g/X"}, "guest_url"),
    ],
)
def test_a_bad_field_is_refused_with_422_naming_it(stack: SandboxStack, changes: dict[str, Any], field: str) -> None:
    answer = call(stack, "POST", "/calendar", json=calendar_entry(**changes))

    assert answer.status_code == 422
    assert answer.json()["message"].startswith(f"{field}: ")
    assert stack.jada.entries() == []


@pytest.mark.parametrize("missing", ["external_id", "guest_url", "crew_assignments", "net_revenue", "notes"])
def test_a_missing_field_is_refused_with_422_naming_it(stack: SandboxStack, missing: str) -> None:
    body = calendar_entry()
    del body[missing]

    answer = call(stack, "POST", "/calendar", json=body)

    assert answer.status_code == 422
    assert answer.json()["message"] == f"{missing}: is required"


def test_net_revenue_may_be_negative_and_money_may_be_whole(stack: SandboxStack) -> None:
    answer = call(stack, "POST", "/calendar", json=calendar_entry(gross_revenue=0, net_revenue=-400.5, crew_cost=250))

    assert answer.status_code == 201


def test_a_body_that_is_not_json_is_a_400(stack: SandboxStack) -> None:
    answer = call(stack, "POST", "/calendar", data=b"{not json", headers={"Content-Type": "application/json"})

    assert answer.status_code == 400


def test_patch_merges_fields_and_checks_them(stack: SandboxStack) -> None:
    entry_id = call(stack, "POST", "/calendar", json=calendar_entry()).json()["id"]

    updated = call(stack, "PATCH", f"/calendar/{entry_id}", json={"status": "cancelled", "party_size": 8})
    refused = call(stack, "PATCH", f"/calendar/{entry_id}", json={"net_revenue": "289.41"})
    backwards = call(stack, "PATCH", f"/calendar/{entry_id}", json={"end": "2026-12-04T09:00:00-08:00"})

    assert updated.status_code == 200
    (stored,) = stack.jada.entries("boatsetter:BS-1001")
    assert (stored["status"], stored["party_size"], stored["boat"]) == ("cancelled", 8, "Queen of San Diego")
    assert refused.status_code == 422
    assert refused.json()["message"].startswith("net_revenue: ")
    assert backwards.status_code == 422
    assert backwards.json()["message"].startswith("end: ")
    assert stored["end"] == "2026-12-04T13:00:00-08:00"


def test_patch_of_an_unknown_entry_is_404(stack: SandboxStack) -> None:
    assert call(stack, "PATCH", "/calendar/cal_nope", json={"status": "cancelled"}).status_code == 404


@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("GET", "/events"), ("POST", "/calendar/x/y")])
def test_unknown_routes_are_404(stack: SandboxStack, method: str, path: str) -> None:
    assert call(stack, method, path).status_code == 404


def test_admin_state_shows_entries_and_the_request_log_but_never_the_token(stack: SandboxStack) -> None:
    call(stack, "POST", "/calendar", json=calendar_entry())
    call(stack, "GET", "/calendar", token="a-wrong-token-value", params={"external_id": "boatsetter:BS-1001"})

    answer = requests.get(stack.jada.root_url + "/_sandbox/state", timeout=TIMEOUT)

    state = answer.json()
    assert [e["external_id"] for e in state["entries"]] == ["boatsetter:BS-1001"]
    assert [(r["method"], r["path"], r["status"]) for r in state["requests"]] == [
        ("POST", "/calendar", 201),
        ("GET", "/calendar", 401),
    ]
    assert state["requests"][0]["body"]["guest_name"] == "Jane Doe"
    assert state["requests"][1]["query"] == {"external_id": "boatsetter:BS-1001"}
    assert DEFAULT_DASHBOARD_TOKEN not in answer.text
    assert "a-wrong-token-value" not in answer.text


def test_admin_reset_forgets_everything(stack: SandboxStack) -> None:
    call(stack, "POST", "/calendar", json=calendar_entry())
    stack.jada.inject(method="GET", path="/calendar", status=503)

    assert requests.post(stack.jada.root_url + "/_sandbox/reset", timeout=TIMEOUT).status_code == 200

    state = stack.jada.state()
    assert (state["entries"], state["faults"], state["requests"]) == ([], [], [])


def test_concurrent_posts_are_all_stored_with_distinct_ids(stack: SandboxStack) -> None:
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda n: call(stack, "POST", "/calendar", json=calendar_entry(f"BS-{n}")), range(40)))

    assert {answer.status_code for answer in answers} == {201}
    assert len({answer.json()["id"] for answer in answers}) == 40
    assert len(stack.jada.entries()) == 40
    assert len(stack.jada.logged("POST", "/calendar")) == 40
