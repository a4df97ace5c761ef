"""The ShipCaptainCrew stand-in: stage and auth, field checks, the money refusal, DynamoDB, the e-mail outbox."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import requests

from sandbox.scc import DEFAULT_SERVICE_KEY, is_money_key, money_findings
from sandbox.stack import SandboxStack
from tests.sandbox.service_bodies import TIMEOUT, call, create, scc_event

SCC_MONEY_ATTRIBUTES = {"captain_fee", "crew_pay", "revenue", "net_revenue", "hourly_rate"}


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_a_call_without_the_right_key_is_401(stack: SandboxStack, key: str | None) -> None:
    assert call(stack, "POST", "/events", key=key, json=scc_event()).status_code == 401
    assert call(stack, "GET", "/events", key=key).status_code == 401
    assert stack.scc.events() == []
    assert stack.scc.outbox() == []


def test_a_basic_scheme_is_401(stack: SandboxStack) -> None:
    answer = requests.get(
        stack.scc_url + "/events", headers={"Authorization": f"Basic {DEFAULT_SERVICE_KEY}"}, timeout=TIMEOUT
    )
    assert answer.status_code == 401


@pytest.mark.parametrize("path", ["/events", "/dev/events", "/prod", "/prod/bookings", "/prod/events/x/y"])
def test_paths_outside_the_stage_or_its_routes_answer_like_api_gateway(stack: SandboxStack, path: str) -> None:
    answer = call(stack, "POST", path, base=stack.scc.root_url, json=scc_event())

    assert answer.status_code == 403
    assert answer.json() == {"message": "Missing Authentication Token"}
    assert stack.scc.events() == []


def test_post_is_not_idempotent_and_lookup_by_external_ref(stack: SandboxStack) -> None:
    first, second = create(stack), create(stack)
    create(stack, booking_id="BS-2002")

    items = call(stack, "GET", "/events", params={"external_ref": "boatsetter:BS-1001"}).json()["items"]

    assert first != second
    assert [item["event_id"] for item in items] == [first, second]
    assert items[0]["guest"] == {"name": "Jane D.", "party_size": 6}
    assert call(stack, "GET", "/events", params={"external_ref": "boatsetter:nobody"}).json() == {"items": []}


def test_the_event_is_stored_in_dynamodb_with_scc_money_added(stack: SandboxStack) -> None:
    event_id = create(stack)

    item = stack.boto3_client("dynamodb").get_item(
        TableName="scc-events", Key={"event_id": {"S": event_id}}, ConsistentRead=True
    )["Item"]

    assert set(item) >= SCC_MONEY_ATTRIBUTES
    assert all("N" in item[name] for name in SCC_MONEY_ATTRIBUTES)
    assert Decimal(item["captain_fee"]["N"]) == Decimal("150.00")  # 3 h x 50
    assert Decimal(item["crew_pay"]["N"]) == Decimal("150.00")  # 2 deckhands x 25 x 3 h
    notes = item["notes"]["S"].splitlines()
    assert notes[:2] == ["Guest celebrates a birthday", "Bring ice"]
    assert "Captain fee: $150.00" in notes
    assert "Crew pay 2 x $25.00/hr" in notes
    assert "Revenue share: 18%" in notes
    assert item["external_ref"] == {"S": "boatsetter:BS-1001"}
    assert item["guest"]["M"]["party_size"] == {"N": "6"}


def test_every_crew_member_with_an_email_gets_one_magic_link(stack: SandboxStack) -> None:
    event_id = create(stack)

    outbox = stack.scc.outbox()

    assert sorted(mail["to"] for mail in outbox) == ["alex@example.com", "sam@example.com"]
    assert {mail["kind"] for mail in outbox} == {"invitation"}
    for mail in outbox:
        assert mail["event_id"] == event_id
        assert mail["link"] in mail["body"]
        assert mail["link"].startswith(stack.scc.root_url + "/magic/")
        page = requests.get(mail["link"], timeout=TIMEOUT)
        assert page.status_code == 200
        assert "Charter: Queen of San Diego" in page.text
    written = stack.scc.outbox_path.read_text().splitlines() if stack.scc.outbox_path else []
    assert [json.loads(line)["to"] for line in written] == [mail["to"] for mail in outbox]
    assert requests.get(stack.scc.root_url + "/magic/not-a-token", timeout=TIMEOUT).status_code == 404


def test_patch_rewrites_the_item_with_money_again_and_notifies_crew(stack: SandboxStack) -> None:
    event_id = create(stack)
    dynamodb = stack.boto3_client("dynamodb")
    # What the pipeline's notes scrub does after every create or update.
    dynamodb.update_item(
        TableName="scc-events",
        Key={"event_id": {"S": event_id}},
        UpdateExpression="REMOVE captain_fee, crew_pay, revenue, net_revenue, hourly_rate SET notes = :n",
        ExpressionAttributeValues={":n": {"S": "Guest celebrates a birthday"}},
    )

    answer = call(stack, "PATCH", f"/events/{event_id}", json={"checklist": ["Fuel check", "Cooler"]})

    assert answer.status_code == 200
    item = stack.scc.table_item(event_id)
    assert item is not None
    assert set(item) >= SCC_MONEY_ATTRIBUTES
    assert "Captain fee: $150.00" in item["notes"]
    assert item["checklist"] == ["Fuel check", "Cooler"]
    changes = [mail for mail in stack.scc.outbox() if mail["kind"] == "change"]
    assert sorted(mail["to"] for mail in changes) == ["alex@example.com", "sam@example.com"]


def test_patch_that_swaps_crew_invites_the_new_and_releases_the_old(stack: SandboxStack) -> None:
    event_id = create(stack)
    crew = [
        {"name": "Alex Rivera", "email": "alex@example.com", "role": "captain"},
        {"name": "Robin Park", "email": "robin@example.com", "role": "crew"},
    ]

    call(stack, "PATCH", f"/events/{event_id}", json={"crew": crew})

    later = stack.scc.outbox()[2:]
    assert sorted((mail["to"], mail["kind"]) for mail in later) == [
        ("alex@example.com", "change"),
        ("robin@example.com", "invitation"),
        ("sam@example.com", "removal"),
    ]


def test_cancelling_marks_the_event_and_sends_cancellation_notices(stack: SandboxStack) -> None:
    event_id = create(stack)

    answer = call(stack, "PATCH", f"/events/{event_id}", json={"status": "cancelled"})

    assert answer.status_code == 200
    assert answer.json()["status"] == "cancelled"
    item = stack.scc.table_item(event_id)
    assert item is not None
    assert item["status"] == "cancelled"
    notices = [mail for mail in stack.scc.outbox() if mail["kind"] == "cancellation"]
    assert sorted(mail["to"] for mail in notices) == ["alex@example.com", "sam@example.com"]
    assert all(mail["subject"].startswith("Cancelled: ") for mail in notices)


def test_patch_of_an_unknown_event_is_404(stack: SandboxStack) -> None:
    assert call(stack, "PATCH", "/events/evt-nope", json={"status": "cancelled"}).status_code == 404


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"captain_fee": 150}, "captain_fee"),
        (
            {"crew": [{"name": "Sam", "email": "sam@example.com", "role": "crew", "hourly_rate": 25}]},
            "crew[0].hourly_rate",
        ),
        ({"guest": {"name": "Jane D.", "party_size": 6, "price": "n/a"}}, "guest.price"),
        ({"crewPay": 10}, "crewPay"),
        ({"notes": "Deposit paid: $25"}, "notes"),
        ({"checklist": ["Collect 25.00 USD for ice"]}, "checklist[0]"),
        ({"description": "Tip pool USD 40"}, "description"),
        ({"title": "Charter 840.75 dollars"}, "title"),
    ],
)
def test_money_anywhere_is_refused(stack: SandboxStack, changes: dict[str, Any], where: str) -> None:
    answer = call(stack, "POST", "/events", json=scc_event(**changes))

    assert answer.status_code == 422
    assert answer.json()["message"] == f"money is not allowed in SCC: {where}"
    assert stack.scc.events() == []
    assert stack.scc.outbox() == []


def test_money_in_an_update_is_refused_and_changes_nothing(stack: SandboxStack) -> None:
    event_id = create(stack)

    answer = call(stack, "PATCH", f"/events/{event_id}", json={"notes": "Captain fee: $150.00", "net_revenue": 1})

    assert answer.status_code == 422
    assert answer.json()["message"] == "money is not allowed in SCC: notes, net_revenue"
    assert len(stack.scc.outbox()) == 2


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"external_ref": "BS-1001"}, "external_ref"),
        ({"title": ""}, "title"),
        ({"date": "2026-13-01"}, "date"),
        ({"start": "10:00"}, "start"),
        ({"guest": {"name": "Jane D."}}, "guest.party_size"),
        ({"guest": {"name": "Jane D.", "party_size": "6"}}, "guest.party_size"),
        ({"crew": [{"name": "Sam", "role": "crew"}]}, "crew[0].email"),
        ({"crew": [{"name": "Sam", "email": "not-an-address", "role": "crew"}]}, "crew[0].email"),
        ({"checklist": "Fuel check"}, "checklist"),
        ({"checklist": ["ok", 3]}, "checklist[1]"),
        ({"notes": None}, "notes"),
        ({"end": "2026-12-04T09:00:00-08:00"}, "end"),
    ],
)
def test_a_bad_field_is_refused_with_422_naming_it(stack: SandboxStack, changes: dict[str, Any], field: str) -> None:
    answer = call(stack, "POST", "/events", json=scc_event(**changes))

    assert answer.status_code == 422
    assert answer.json()["message"].startswith(f"{field}: ")


@pytest.mark.parametrize("missing", ["external_ref", "title", "date", "boat", "guest", "crew", "checklist", "notes"])
def test_a_missing_field_is_refused(stack: SandboxStack, missing: str) -> None:
    body = scc_event()
    del body[missing]

    answer = call(stack, "POST", "/events", json=body)

    assert answer.status_code == 422
    assert answer.json()["message"] == f"{missing}: is required"


def test_scc_recreates_its_table_when_it_is_gone(stack: SandboxStack) -> None:
    dynamodb = stack.boto3_client("dynamodb")
    dynamodb.delete_table(TableName="scc-events")

    event_id = create(stack)

    assert stack.scc.table_item(event_id) is not None


def test_admin_state_holds_events_outbox_and_log_without_the_key(stack: SandboxStack) -> None:
    create(stack)

    answer = requests.get(stack.scc.root_url + "/_sandbox/state", timeout=TIMEOUT)

    state = answer.json()
    assert len(state["events"]) == 1
    assert len(state["outbox"]) == 2
    assert [(r["method"], r["path"], r["status"]) for r in state["requests"]] == [("POST", "/prod/events", 201)]
    assert DEFAULT_SERVICE_KEY not in answer.text


@pytest.mark.parametrize(
    ("key", "money"),
    [
        ("hourly_rate", True),
        ("netRevenue", True),
        ("grossrevenue", True),
        ("payout", True),
        ("fees", True),
        ("party_size", False),
        ("display_name", False),
        ("coffee", False),
        ("checklist", False),
        ("email", False),
    ],
)
def test_money_keys_are_whole_words_of_the_key(key: str, money: bool) -> None:
    assert is_money_key(key) is money


def test_names_that_contain_money_words_are_not_money() -> None:
    assert money_findings({"guest": {"name": "Costa P."}, "crew": [{"name": "Payton Bennett"}]}) == []
