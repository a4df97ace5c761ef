"""The JADA internal calendar entry (CONTRACT.md section 5)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter_pipeline.booking import Booking
from charter_pipeline.calendar_entry import calendar_entry_payload
from charter_pipeline.config import PipelineConfig
from charter_pipeline.crew import CrewAssignment, assigned_crew
from charter_pipeline.money import compute_financials
from tests.factories import make_booking, make_config

TZ = ZoneInfo("America/Los_Angeles")
GUEST_URL = "https://queenofsandiego.com/g/7K3M9QXWZ2ABC"
ROSTER = {
    "default": {
        "captain": {"name": "Sam Skipper", "email": "sam@jada.example"},
        "crew": [{"name": "Ana Deck", "email": "ana@jada.example"}, {"name": "Bo Line"}],
    },
    "Short Handed": {"captain": None, "crew": [{"name": "Eve Watch"}]},
}


def entry_for(booking: Booking, config: PipelineConfig, status: str = "confirmed") -> dict[str, Any]:
    return calendar_entry_payload(
        booking,
        compute_financials(booking, config.rates),
        assigned_crew(booking, config),
        guest_url=GUEST_URL,
        status=status,
        config=config,
    )


def test_worked_example_end_to_end() -> None:
    entry = entry_for(make_booking(), make_config(ROSTER))

    assert entry == {
        "external_id": "boatsetter:BS-1001",
        "event_type": "charter",
        "source": "boatsetter",
        "status": "confirmed",
        "charter_date": "2026-12-04",
        "start": "2026-12-04T10:00:00-08:00",
        "end": "2026-12-04T13:00:00-08:00",
        "duration_hours": 3,
        "boat": "Sea Breeze",
        "guest_name": "Jane Doe",
        "party_size": 6,
        "captain": "Sam Skipper",
        "crew_assignments": [
            {"role": "captain", "name": "Sam Skipper", "hours": 3, "hourly_rate": 50, "cost": 150},
            {"role": "crew", "name": "Ana Deck", "hours": 5, "hourly_rate": 25, "cost": 125},
            {"role": "crew", "name": "Bo Line", "hours": 5, "hourly_rate": 25, "cost": 125},
        ],
        "gross_revenue": 840.75,
        "crew_cost": 250,
        "captain_cost": 150,
        "port_fee_percent": 18,
        "port_fee": 151.34,
        "net_revenue": 289.41,
        "guest_url": GUEST_URL,
        "notes": "Renter e-mail: jane.doe@mail.example\nRenter phone: +1 858 555 0199\nBoatsetter status: approved",
    }
    text = json.dumps(entry)
    assert '"port_fee": 151.34' in text
    assert '"net_revenue": 289.41' in text


def _money_values(entry: dict[str, Any]) -> list[Any]:
    fields = ("gross_revenue", "crew_cost", "captain_cost", "port_fee", "net_revenue")
    lines = entry["crew_assignments"]
    return [entry[name] for name in fields] + [line[key] for line in lines for key in ("hourly_rate", "cost")]


@settings(max_examples=100, deadline=None)
@given(
    gross=st.decimals(min_value=0, max_value=Decimal("999999999.99"), places=2),
    hours=st.decimals(min_value=Decimal("0.25"), max_value=24, places=2),
    crew_count=st.integers(min_value=0, max_value=4),
    crew_hourly=st.decimals(min_value=0, max_value=200, places=3),
    captain_hourly=st.decimals(min_value=0, max_value=300, places=2),
    percent=st.decimals(min_value=0, max_value=100, places=2),
)
def test_json_numbers_round_trip_with_at_most_two_decimals(
    gross: Decimal, hours: Decimal, crew_count: int, crew_hourly: Decimal, captain_hourly: Decimal, percent: Decimal
) -> None:
    config = make_config(
        ROSTER,
        rates={
            "crew_count": crew_count,
            "crew_hourly": str(crew_hourly),
            "captain_hourly": str(captain_hourly),
            "port_fee_percent": str(percent),
        },
    )
    booking = make_booking(gross=gross, duration_hours=hours)
    money = compute_financials(booking, config.rates)

    entry = json.loads(json.dumps(entry_for(booking, config)), parse_float=Decimal, parse_int=Decimal)

    for value in [*_money_values(entry), entry["port_fee_percent"]]:
        assert value == value.quantize(Decimal("0.01")), value
    assert entry["gross_revenue"] == money.gross_revenue
    assert entry["net_revenue"] == money.net_revenue
    assert entry["port_fee"] == money.port_fee
    assert entry["duration_hours"] == hours
    seat_costs = [line["cost"] for line in entry["crew_assignments"] if line["role"] == "crew"]
    assert len(seat_costs) == crew_count
    assert sum(seat_costs, Decimal(0)) == entry["crew_cost"] == money.crew_cost
    assert entry["crew_assignments"][0]["cost"] == entry["captain_cost"]


def test_crew_seats_add_up_to_the_crew_cost_when_seat_rounding_drifts() -> None:
    # 2 seats x 25.00 x 2.333 h = 116.65 overall, but 58.325 -> 58.33 per seat would make 116.66.
    config = make_config(ROSTER, rates={"crew_extra_hours": "0"})
    entry = entry_for(make_booking(duration_hours=Decimal("2.333")), config)

    seats = [line["cost"] for line in entry["crew_assignments"] if line["role"] == "crew"]
    assert entry["crew_cost"] == 116.65
    assert seats == [58.33, 58.32]


@pytest.mark.parametrize(
    ("start", "trip_date", "hours", "expected_start", "expected_end"),
    [
        pytest.param(
            datetime(2026, 7, 4, 10, 0, tzinfo=TZ),
            date(2026, 7, 4),
            "3",
            "2026-07-04T10:00:00-07:00",
            "2026-07-04T13:00:00-07:00",
            id="summer -07:00",
        ),
        pytest.param(
            datetime(2026, 12, 4, 10, 0, tzinfo=TZ),
            date(2026, 12, 4),
            "3",
            "2026-12-04T10:00:00-08:00",
            "2026-12-04T13:00:00-08:00",
            id="winter -08:00",
        ),
        pytest.param(
            datetime(2026, 12, 4, 22, 30, tzinfo=TZ),
            date(2026, 12, 4),
            "4",
            "2026-12-04T22:30:00-08:00",
            "2026-12-05T02:30:00-08:00",
            id="crossing midnight",
        ),
        pytest.param(
            datetime(2026, 10, 31, 23, 0, tzinfo=TZ),
            date(2026, 10, 31),
            "4",
            "2026-10-31T23:00:00-07:00",
            "2026-11-01T02:00:00-08:00",
            id="crossing midnight and the fall-back hour: 4 h elapsed",
        ),
        pytest.param(
            datetime(2026, 3, 8, 0, 30, tzinfo=TZ),
            date(2026, 3, 8),
            "3",
            "2026-03-08T00:30:00-08:00",
            "2026-03-08T04:30:00-07:00",
            id="spring forward: 3 h elapsed",
        ),
        pytest.param(
            datetime(2026, 12, 4, 18, 0, tzinfo=UTC),
            date(2026, 12, 4),
            "1.5",
            "2026-12-04T10:00:00-08:00",
            "2026-12-04T11:30:00-08:00",
            id="a start given in UTC is written in the pipeline's zone",
        ),
        pytest.param(
            datetime(2026, 12, 5, 5, 0, tzinfo=UTC),
            date(2026, 12, 4),
            "2",
            "2026-12-04T21:00:00-08:00",
            "2026-12-04T23:00:00-08:00",
            id="the charter date is the local date, not the UTC one",
        ),
    ],
)
def test_start_and_end_carry_the_offset_in_force(
    start: datetime, trip_date: date, hours: str, expected_start: str, expected_end: str
) -> None:
    entry = entry_for(
        make_booking(start=start, trip_date=trip_date, duration_hours=Decimal(hours)), make_config(ROSTER)
    )

    assert (entry["start"], entry["end"]) == (expected_start, expected_end)
    assert entry["charter_date"] == trip_date.isoformat()
    assert entry["duration_hours"] == float(hours)


def test_short_roster_leaves_named_seats_unassigned() -> None:
    config = make_config(ROSTER, rates={"crew_count": 3})
    entry = entry_for(make_booking(boat="Short Handed"), config)

    assert entry["captain"] == ""
    assert [(line["role"], line["name"]) for line in entry["crew_assignments"]] == [
        ("captain", "Unassigned"),
        ("crew", "Eve Watch"),
        ("crew", "Unassigned"),
        ("crew", "Unassigned"),
    ]
    assert entry["crew_cost"] == 375


def test_booked_captain_is_the_calendar_captain_and_noted() -> None:
    entry = entry_for(make_booking(captain="Zed Unknown"), make_config(ROSTER))

    assert entry["captain"] == "Zed Unknown"
    assert entry["crew_assignments"][0]["name"] == "Zed Unknown"
    assert "Captain booked by the renter: Zed Unknown" in entry["notes"]


def test_cancelled_entry_and_notes_without_contact_details() -> None:
    booking = make_booking(status="cancelled", renter_email="", renter_phone="")

    entry = entry_for(booking, make_config(ROSTER), status="cancelled")

    assert entry["status"] == "cancelled"
    assert entry["notes"] == "Boatsetter status: cancelled"


def test_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="status"):
        entry_for(make_booking(), make_config(ROSTER), status="tentative")


def test_crew_passed_in_names_the_lines() -> None:
    booking = make_booking()
    config = make_config(ROSTER)
    crew = [CrewAssignment("captain", "Pat Relief", "pat@jada.example"), CrewAssignment("crew", "Lou Fill")]

    entry = calendar_entry_payload(
        booking,
        compute_financials(booking, config.rates),
        crew,
        guest_url=GUEST_URL,
        status="confirmed",
        config=config,
    )

    assert entry["captain"] == "Pat Relief"
    assert [line["name"] for line in entry["crew_assignments"]] == ["Pat Relief", "Lou Fill", "Unassigned"]


def test_a_charter_is_confirmed_at_the_services_and_anything_else_cancelled() -> None:
    import json

    from charter_pipeline.service_state import ServiceStatus

    assert ServiceStatus.of(make_booking()) == "confirmed"
    assert ServiceStatus.of(make_booking(status="completed")) is ServiceStatus.CONFIRMED
    assert ServiceStatus.of(make_booking(status="cancelled")) is ServiceStatus.CANCELLED
    assert ServiceStatus.of(make_booking(status="expired")) is ServiceStatus.CANCELLED
    # What goes over the wire is the plain word.
    entry = entry_for(make_booking(status="cancelled"), make_config(ROSTER), status=ServiceStatus.CANCELLED)
    assert json.loads(json.dumps(entry))["status"] == "cancelled"
