"""Who sails a charter, the crew checklist and the ShipCaptainCrew event (CONTRACT.md sections 3 and 6)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter_pipeline.booking import Booking
from charter_pipeline.config import PipelineConfig, load_config
from charter_pipeline.crew import (
    SCC_EVENT_FIELDS,
    CrewAssignment,
    assigned_crew,
    checkin_time,
    crew_checklist,
    default_crew_note,
    external_ref,
    iso_local,
    roster_boats,
    scc_event_payload,
)
from charter_pipeline.money_words import money_findings
from tests.factories import make_booking, make_config

TZ = ZoneInfo("America/Los_Angeles")

ROSTER: dict[str, Any] = {
    "default": {
        "captain": {"name": "Dana Default", "email": "dana@jada.example"},
        "crew": [
            {"name": "Dee One", "email": "dee@jada.example"},
            {"name": "Dev Two", "email": "dev@jada.example"},
            {"name": "Dom Three"},
        ],
    },
    "Sea Breeze": {
        "captain": {"name": "Sam Skipper", "email": "sam@jada.example"},
        "crew": [
            {"name": "Ana Deck", "email": "ana@jada.example"},
            {"name": "Bo Line", "email": "bo@jada.example"},
            {"name": "Cy Spare", "email": "cy@jada.example"},
        ],
    },
    "Night Owl": {"captain": {"name": "", "email": ""}, "crew": [{"name": "Eve Watch", "email": "eve@jada.example"}]},
    "Net Profit": {
        "captain": {"name": "Sam Price", "email": "sam.price@jada.example"},
        "crew": [{"name": "Bill Cash", "email": "payroll.bill@jada.example"}],
    },
    "Blue Heron": {
        "captain": {"name": "Hal Heron", "email": "hal@jada.example"},
        "crew": [{"name": "Dom Three", "email": "dom@jada.example"}],
    },
}


def crew_of(booking: Booking, config: PipelineConfig) -> list[tuple[str, str, str]]:
    return [(member.role, member.name, member.email) for member in assigned_crew(booking, config)]


# --- who sails -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("boat", "captain", "expected"),
    [
        pytest.param(
            "Sea Breeze",
            "",
            [
                ("captain", "Sam Skipper", "sam@jada.example"),
                ("crew", "Ana Deck", "ana@jada.example"),
                ("crew", "Bo Line", "bo@jada.example"),
            ],
            id="boat's own roster",
        ),
        pytest.param(
            "  sea BREEZE ",
            "",
            [
                ("captain", "Sam Skipper", "sam@jada.example"),
                ("crew", "Ana Deck", "ana@jada.example"),
                ("crew", "Bo Line", "bo@jada.example"),
            ],
            id="boat matched case-insensitively",
        ),
        pytest.param(
            "Rum Runner",
            "",
            [
                ("captain", "Dana Default", "dana@jada.example"),
                ("crew", "Dee One", "dee@jada.example"),
                ("crew", "Dev Two", "dev@jada.example"),
            ],
            id="unlisted boat takes the default entry",
        ),
        pytest.param(
            "Sea Breeze",
            "hal  HERON",
            [
                ("captain", "Hal Heron", "hal@jada.example"),
                ("crew", "Ana Deck", "ana@jada.example"),
                ("crew", "Bo Line", "bo@jada.example"),
            ],
            id="booked captain from another boat's roster keeps that e-mail",
        ),
        pytest.param(
            "Sea Breeze",
            "Bo Line",
            [
                ("captain", "Bo Line", "bo@jada.example"),
                ("crew", "Ana Deck", "ana@jada.example"),
                ("crew", "Cy Spare", "cy@jada.example"),
            ],
            id="booked captain who is a deckhand here is not assigned twice",
        ),
        pytest.param(
            "Sea Breeze",
            "Zed Unknown",
            [
                ("captain", "Zed Unknown", ""),
                ("crew", "Ana Deck", "ana@jada.example"),
                ("crew", "Bo Line", "bo@jada.example"),
            ],
            id="booked captain nobody lists has no e-mail",
        ),
        pytest.param(
            "Rum Runner",
            "Dom Three",
            [
                ("captain", "Dom Three", "dom@jada.example"),
                ("crew", "Dee One", "dee@jada.example"),
                ("crew", "Dev Two", "dev@jada.example"),
            ],
            id="a listing with an e-mail wins over one without",
        ),
        pytest.param(
            "Night Owl",
            "",
            [("crew", "Eve Watch", "eve@jada.example")],
            id="roster without a captain, short of crew",
        ),
        pytest.param(
            "Night Owl",
            "Sam Skipper",
            [("captain", "Sam Skipper", "sam@jada.example"), ("crew", "Eve Watch", "eve@jada.example")],
            id="booked captain fills a boat with no roster captain",
        ),
    ],
)
def test_assigned_crew(boat: str, captain: str, expected: list[tuple[str, str, str]]) -> None:
    assert crew_of(make_booking(boat=boat, captain=captain), make_config(ROSTER)) == expected


def test_the_boats_own_listing_wins_when_a_name_is_on_two_rosters() -> None:
    roster = {
        "default": {"captain": None, "crew": [{"name": "Kim Cross", "email": "kim.default@jada.example"}]},
        "Sea Breeze": {"captain": None, "crew": [{"name": "Kim Cross", "email": "kim.breeze@jada.example"}]},
    }
    config = load_config({"crew_roster": roster})

    assert crew_of(make_booking(captain="Kim Cross"), config)[0] == ("captain", "Kim Cross", "kim.breeze@jada.example")
    assert crew_of(make_booking(boat="Other", captain="Kim Cross"), config)[0] == (
        "captain",
        "Kim Cross",
        "kim.default@jada.example",
    )


def test_default_roster_with_an_empty_captain_assigns_nobody() -> None:
    assert assigned_crew(make_booking(), load_config(None)) == []
    assert crew_of(make_booking(captain="Jo Booked"), load_config(None)) == [("captain", "Jo Booked", "")]


@pytest.mark.parametrize(("seats", "deckhands"), [(0, []), (1, ["Ana Deck"]), (5, ["Ana Deck", "Bo Line", "Cy Spare"])])
def test_crew_count_caps_the_deckhands(seats: int, deckhands: list[str]) -> None:
    crew = assigned_crew(make_booking(), make_config(ROSTER, rates={"crew_count": seats}))

    assert crew[0] == CrewAssignment("captain", "Sam Skipper", "sam@jada.example")
    assert [member.name for member in crew[1:]] == deckhands


def test_crew_assignment_round_trips_in_the_scc_shape() -> None:
    member = CrewAssignment("crew", "Ana Deck", "ana@jada.example")

    assert member.to_dict() == {"name": "Ana Deck", "email": "ana@jada.example", "role": "crew"}
    assert CrewAssignment.from_dict(member.to_dict()) == member
    with pytest.raises(ValueError, match="role"):
        CrewAssignment.from_dict({"name": "X", "email": "", "role": "owner"})


# --- times -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 12, 4, 10, 0, tzinfo=TZ), "2026-12-04T10:00:00-08:00"),
        (datetime(2026, 7, 4, 10, 0, tzinfo=TZ), "2026-07-04T10:00:00-07:00"),
        (datetime(2026, 7, 4, 17, 0, 30, 999, tzinfo=UTC), "2026-07-04T10:00:30-07:00"),
    ],
)
def test_iso_local_carries_seconds_and_the_offset_in_force(moment: datetime, expected: str) -> None:
    assert iso_local(moment, TZ) == expected


def test_iso_local_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        iso_local(datetime(2026, 12, 4, 10, 0))  # noqa: DTZ001 - the naive time is the point


def test_checkin_is_elapsed_minutes_before_departure() -> None:
    config = make_config(ROSTER, checkin_lead_minutes=45)

    assert checkin_time(make_booking(), config) == datetime(2026, 12, 4, 9, 15, tzinfo=TZ)
    # Fall back: 01:15 PST is 30 min after 01:45 PDT, though the wall clock went backwards.
    start = datetime(2026, 11, 1, 9, 15, tzinfo=UTC).astimezone(TZ)
    checkin = checkin_time(make_booking(start=start, trip_date=date(2026, 11, 1)), make_config(ROSTER))
    assert iso_local(checkin) == "2026-11-01T01:45:00-07:00"


# --- the crew checklist ----------------------------------------------------------------------------------------


def test_checklist_is_a_real_crew_checklist_in_order() -> None:
    checklist = crew_checklist(make_booking(), make_config(ROSTER))
    text = "\n".join(checklist)

    assert checklist[0].startswith("Life jackets aboard for all 6 passengers, plus child sizes if needed")
    expected_in_order = [
        "Life jackets",
        "Safety gear",
        "Fuel",
        "Weather and sea check before 9:30 AM",
        "Guest check-in at Sheraton Marina, Harbor Island, San Diego at 9:30 AM: meet Jane D., headcount 6 passengers",
        "Safety briefing",
        "Underway at 10:00 AM",
        "Return to the dock by 1:00 PM: headcount 6 passengers ashore",
        "Clean-up",
        "Log the trip",
    ]
    positions = [text.find(phrase) for phrase in expected_in_order]
    assert -1 not in positions, [p for p, at in zip(expected_in_order, positions, strict=True) if at == -1]
    assert positions == sorted(positions)
    assert "JADA Charters operations +1 619 555 0100" in text
    assert money_findings(checklist) == []


def test_checklist_says_nothing_of_money_or_the_renters_contact() -> None:
    text = "\n".join(crew_checklist(make_booking(), make_config(ROSTER)))

    for secret in ("840", "Doe", "jane.doe@mail.example", "0199", "BS-1001"):
        assert secret not in text


def test_checklist_for_one_passenger_and_local_times_in_the_pipeline_zone() -> None:
    start = datetime(2026, 7, 4, 17, 0, tzinfo=UTC)  # 10:00 AM PDT
    booking = make_booking(start=start, trip_date=date(2026, 7, 4), passengers=1, renter_name="Cher")
    checklist = crew_checklist(
        booking, make_config(ROSTER, checkin_lead_minutes=45, meeting_point="Shelter Island dock")
    )

    assert checklist[0].startswith("Life jacket aboard for the 1 passenger, plus a child size if needed")
    assert "Guest check-in at Shelter Island dock at 9:15 AM: meet Cher, headcount 1 passenger before boarding" in (
        checklist
    )
    assert any(line.startswith("Underway at 10:00 AM") for line in checklist)


def test_checklist_names_the_day_when_a_time_falls_on_another_date() -> None:
    booking = make_booking(start=datetime(2026, 12, 4, 0, 15, tzinfo=TZ), duration_hours=Decimal("1.5"))
    late = make_booking(start=datetime(2026, 12, 4, 22, 30, tzinfo=TZ), duration_hours=Decimal("3"))

    early_text = "\n".join(crew_checklist(booking, make_config(ROSTER)))
    late_text = "\n".join(crew_checklist(late, make_config(ROSTER)))

    assert "Weather and sea check before 11:45 PM (Thu 3 Dec 2026)" in early_text
    assert "Return to the dock by 1:45 AM:" in early_text
    assert "Return to the dock by 1:30 AM (Sat 5 Dec 2026):" in late_text
    assert "Fuel checked for the 1.5 h charter" in early_text


# --- the ShipCaptainCrew event ---------------------------------------------------------------------------------


def test_scc_event_payload_is_the_contract_shape_from_operational_fields_only() -> None:
    booking = make_booking()
    config = make_config(ROSTER)
    crew = assigned_crew(booking, config)

    payload = scc_event_payload(booking, config, crew)

    assert list(payload) == [field for field in SCC_EVENT_FIELDS if field != "status"]
    assert payload["external_ref"] == "boatsetter:BS-1001" == external_ref("BS-1001")
    assert payload["title"] == "Sea Breeze charter: Jane D., 6 passengers"
    assert payload["date"] == "2026-12-04"
    assert payload["start"] == "2026-12-04T10:00:00-08:00"
    assert payload["end"] == "2026-12-04T13:00:00-08:00"
    assert payload["boat"] == "Sea Breeze"
    assert payload["guest"] == {"name": "Jane D.", "party_size": 6}
    assert payload["crew"] == [
        {"name": "Sam Skipper", "email": "sam@jada.example", "role": "captain"},
        {"name": "Ana Deck", "email": "ana@jada.example", "role": "crew"},
        {"name": "Bo Line", "email": "bo@jada.example", "role": "crew"},
    ]
    assert payload["description"] == (
        "3 h charter aboard Sea Breeze for Jane D., party of 6, on Fri 4 Dec 2026: departing 10:00 AM, back by 1:00 PM."
    )
    assert payload["checklist"] == crew_checklist(booking, config)
    assert payload["notes"] == (
        "Meeting point: Sheraton Marina, Harbor Island, San Diego\nCheck-in: 9:30 AM (30 min before departure)"
    )
    assert money_findings(payload) == []


def test_scc_event_payload_never_carries_the_renters_contact_or_surname() -> None:
    booking = make_booking(renter_name="Jane Marie Doe-Smith")
    config = make_config(ROSTER)
    dumped = json.dumps(scc_event_payload(booking, config, assigned_crew(booking, config)))

    for private in ("jane.doe@mail.example", "858 555 0199", "Doe-Smith", "Marie", "840.75"):
        assert private not in dumped
    assert "Jane D." in dumped


def test_scc_status_is_sent_only_to_cancel() -> None:
    booking = make_booking()
    config = make_config(ROSTER)

    assert "status" not in scc_event_payload(booking, config, [])
    assert scc_event_payload(booking, config, [], status="cancelled")["status"] == "cancelled"
    with pytest.raises(ValueError, match="status"):
        scc_event_payload(booking, config, [], status="tentative")


def test_scc_event_in_summer_carries_the_daylight_offset() -> None:
    booking = make_booking(trip_date=date(2026, 7, 4), start=datetime(2026, 7, 4, 10, 0, tzinfo=TZ))

    payload = scc_event_payload(booking, make_config(ROSTER), [])

    assert (payload["start"], payload["end"]) == ("2026-07-04T10:00:00-07:00", "2026-07-04T13:00:00-07:00")


BOATS = [
    "Sea Breeze",
    "Pier Pressure",
    "Knot On Call",
    "Reel Therapy",
    "Night Owl",
    "Queen of San Diego",
    "Pier 39",
    # boat names that are money words are still names
    "Pay Day",
    "Knot Paid For",
    "Net Profit",
]
GUESTS = [
    "Jane Doe",
    "José Ñúñez-García",
    "Mary-Jane van der Berg",
    "Cher",
    "Seán O'Brien",
    "李 小龙",
    "Zoë   Price",
    "Bill Gates",
    "Rich Money",
    "Penny Lane",
    "Chase Banks",
    "dr. a. b. c. tipton",
    "<script>alert(1)</script> X",
]
MEETING_POINTS = [
    "Sheraton Marina, Harbor Island, San Diego",
    "Shelter Island boat launch, dock B",
    "Kona Kai Marina, slip 12",
]


@settings(max_examples=150, deadline=None)
@given(
    boat=st.sampled_from(BOATS),
    guest=st.sampled_from(GUESTS),
    captain=st.sampled_from(["", "Hal Heron", "Zed Unknown", "bo line"]),
    day=st.dates(min_value=date(2026, 1, 1), max_value=date(2028, 12, 31)),
    minute_of_day=st.integers(min_value=0, max_value=24 * 60 - 1),
    quarter_hours=st.integers(min_value=1, max_value=96),
    passengers=st.integers(min_value=1, max_value=150),
    lead=st.integers(min_value=0, max_value=180),
    meeting_point=st.sampled_from(MEETING_POINTS),
    gross=st.decimals(min_value=0, max_value=Decimal("99999.99"), places=2),
)
def test_no_scc_event_ever_speaks_of_money(
    boat: str,
    guest: str,
    captain: str,
    day: date,
    minute_of_day: int,
    quarter_hours: int,
    passengers: int,
    lead: int,
    meeting_point: str,
    gross: Decimal,
) -> None:
    local = datetime.combine(day, time(), TZ) + timedelta(minutes=minute_of_day)
    start = local.astimezone(UTC).astimezone(TZ)  # normalise a wall time that DST skipped
    booking = make_booking(
        boat=boat,
        renter_name=guest,
        captain=captain,
        trip_date=start.date(),
        start=start,
        duration_hours=Decimal(quarter_hours) / 4,
        passengers=passengers,
        gross=gross,
    )
    config = make_config(ROSTER, checkin_lead_minutes=lead, meeting_point=meeting_point)

    payload = scc_event_payload(booking, config, assigned_crew(booking, config))

    assert money_findings(payload) == []
    dumped = json.dumps(payload, ensure_ascii=False)
    assert "jane.doe@mail.example" not in dumped
    assert "858 555 0199" not in dumped
    assert payload["start"] == iso_local(booking.start, TZ)
    assert datetime.fromisoformat(payload["end"]) - datetime.fromisoformat(payload["start"]) == timedelta(
        minutes=15 * quarter_hours
    )


def test_a_boat_the_roster_does_not_name_is_said_to_sail_with_the_default_crew() -> None:
    """Issue 22 point 5. A roster of only ``default`` (the contract's default) names no boat: nothing to say."""
    config = load_config({"crew_roster": {"default": {"captain": {"name": "Dana"}, "crew": []},
                                          "Marina Star": {"captain": {"name": "Rosa"}, "crew": []},
                                          "Harbor Light": {"captain": {"name": "Eli"}, "crew": []}}})  # fmt: skip
    boats = roster_boats(config)
    assert boats == ["Harbor Light", "Marina Star"]
    assert default_crew_note("Flying Dutchman", boats) == (
        "default crew: boat 'Flying Dutchman' is not in crew_roster, which lists Harbor Light, Marina Star"
    )
    assert default_crew_note("marina  star", boats) == ""
    assert roster_boats(load_config({})) == []
    assert default_crew_note("Flying Dutchman", roster_boats(load_config({}))) == ""
