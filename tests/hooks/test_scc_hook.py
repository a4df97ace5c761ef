"""ShipCaptainCrewHook against a real local HTTP server."""

from __future__ import annotations

from typing import Any

import pytest

from charter_pipeline.hooks.policy import ServiceAuthError, ServiceRejected, ServiceUnavailable
from charter_pipeline.hooks.scc import MoneyRefused, ShipCaptainCrewHook
from tests.hooks.stand_ins import SCC_KEY, FakeService, Sleeps, fast_policy

EXTERNAL_REF = "boatsetter:BS-1001"


def event(**fields: Any) -> dict[str, Any]:
    return {
        "external_ref": EXTERNAL_REF,
        "title": "Charter: Queen of San Diego",
        "date": "2026-12-04",
        "start": "2026-12-04T10:00:00-08:00",
        "end": "2026-12-04T13:00:00-08:00",
        "boat": "Queen of San Diego",
        "guest": {"name": "Jane D.", "party_size": 6},
        "crew": [{"name": "Sam Rivera", "email": "sam@example.com", "role": "captain"}],
        "description": "Sunset cruise",
        "checklist": ["Check life jackets (6 guests)"],
        "notes": "Meet at 09:30 by the fuel dock",
        **fields,
    }


def hook(sleeps: Sleeps) -> ShipCaptainCrewHook:
    return ShipCaptainCrewHook(policy=fast_policy(sleeps))


def test_create_find_update_cancel_carry_the_bearer_key(scc: FakeService, sleeps: Sleeps) -> None:
    crew = hook(sleeps)
    event_id = crew.create_event(event())
    assert [e["event_id"] for e in crew.find_events(EXTERNAL_REF)] == [event_id]
    crew.update_event(event_id, {"notes": "Meet at 09:45"})
    crew.cancel_event(event_id)

    assert scc.records[event_id]["notes"] == "Meet at 09:45"
    assert scc.records[event_id]["status"] == "cancelled"
    assert scc.calls("PATCH")[-1].body == {"status": "cancelled"}
    assert scc.calls("GET")[0].query == {"external_ref": [EXTERNAL_REF]}
    assert all(s.headers["Authorization"] == f"Bearer {SCC_KEY}" for s in scc.seen)
    assert all("X-Dashboard-Token" not in s.headers for s in scc.seen)


@pytest.mark.parametrize("status", ["401", "403"])
def test_refused_key_names_the_scc_connection(scc: FakeService, sleeps: Sleeps, status: str) -> None:
    scc.fail_next("POST", status)
    with pytest.raises(ServiceAuthError) as raised:
        hook(sleeps).create_event(event())
    assert str(raised.value) == (
        f"ShipCaptainCrew refused the service key of connection 'scc_api' (HTTP {status}). "
        "Check the connection's password."
    )
    assert SCC_KEY not in str(raised.value)
    assert len(scc.seen) == 1


@pytest.mark.parametrize(
    "payload",
    [
        event(crew_cost=250.0),
        event(notes="Meet at 09:30\nCrew pay $25/hour"),
        event(crew=[{"name": "Sam", "email": "sam@example.com", "role": "captain", "hourly_rate": "50.00"}]),
        event(description="Trip worth 840.75 USD"),
    ],
)
def test_money_is_refused_before_anything_is_sent(scc: FakeService, sleeps: Sleeps, payload: dict[str, Any]) -> None:
    with pytest.raises(MoneyRefused, match="refusing to send money to SCC"):
        hook(sleeps).create_event(payload)
    assert scc.seen == []


def test_money_in_an_update_is_refused(scc: FakeService, sleeps: Sleeps) -> None:
    event_id = scc.add_record(event())
    with pytest.raises(ServiceRejected, match=r"refusing to send money to SCC: .*captain_fee"):
        hook(sleeps).update_event(event_id, {"captain_fee": 150})
    assert scc.seen == []


def test_an_update_naming_a_boat_called_pay_day_is_not_money(scc: FakeService, sleeps: Sleeps) -> None:
    event_id = scc.add_record(event())
    title = {"title": "Charter aboard Pay Day"}
    with pytest.raises(MoneyRefused):
        hook(sleeps).update_event(event_id, title)  # without the event's names, "Pay" reads as pay
    hook(sleeps).update_event(event_id, title, names=["Pay Day"])
    assert [(r.method, r.body) for r in scc.seen] == [("PATCH", title)]


def test_an_injected_money_rule_is_used(scc: FakeService, sleeps: Sleeps) -> None:
    crew = ShipCaptainCrewHook(policy=fast_policy(sleeps), money_findings=lambda value: ["stand-in says no"])
    with pytest.raises(MoneyRefused, match="stand-in says no"):
        crew.create_event(event())


def test_lost_answer_on_create_is_found_and_exactly_one_event_exists(scc: FakeService, sleeps: Sleeps) -> None:
    scc.fail_next("POST", "create_then_drop")
    event_id = hook(sleeps).create_event(event())
    assert list(scc.records) == [event_id]
    assert [s.method for s in scc.seen] == ["POST", "GET"]


def test_429_on_create_is_retried_after_a_lookup(scc: FakeService, sleeps: Sleeps) -> None:
    scc.fail_next("POST", "429")
    scc.retry_after = "2"
    event_id = hook(sleeps).create_event(event())
    assert list(scc.records) == [event_id]
    assert [s.method for s in scc.seen] == ["POST", "GET", "POST"]
    assert sleeps.waits == [2.0]


def test_cancel_of_a_missing_event_is_rejected(scc: FakeService, sleeps: Sleeps) -> None:
    with pytest.raises(ServiceRejected) as raised:
        hook(sleeps).cancel_event("events-404")
    assert raised.value.status == 404


def test_persistent_timeouts_on_update_are_unavailable(scc: FakeService, sleeps: Sleeps) -> None:
    event_id = scc.add_record(event())
    scc.fail_next("PATCH", "hang", "hang", "drop", "hang")
    with pytest.raises(ServiceUnavailable, match="ShipCaptainCrew did not complete PATCH"):
        hook(sleeps).update_event(event_id, {"notes": "new"})
    assert len(scc.calls("PATCH")) == 4


def test_test_connection(scc: FakeService, sleeps: Sleeps) -> None:
    assert hook(sleeps).test_connection()[0]
    scc.fail_next("GET", "401")
    ok, message = hook(sleeps).test_connection()
    assert not ok
    assert "'scc_api'" in message
