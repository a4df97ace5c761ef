"""The money rules that keep pay and revenue away from crew (CONTRACT.md section 6)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charter_pipeline.money_words import is_money_attribute, is_money_line, money_findings, proper_names, scrub_notes

MONEY_ATTRIBUTES = [
    # what SCC is known to add (CONTRACT.md section 6)
    "captain_fee",
    "crew_pay",
    "revenue",
    "net_revenue",
    "hourly_rate",
    # other spellings of the same
    "payRate",
    "crewPayUSD",
    "CaptainFee",
    "crew-pay",
    "PORT_FEE",
    "port.fee",
    "fees",
    "gross",
    "net",
    "grossRevenue",
    "totalCost",
    "price",
    "ticket_price",
    "payout",
    "payouts",
    "payroll",
    "payment_status",
    "paid",
    "margin",
    "profit_margin",
    "amount",
    "amount_cents",
    "earnings",
    "wage",
    "salary",
    "commission",
    "tips",
    "tip",
    "profit",
    "income",
    "usd",
    "price_usd",
    "dollars",
    "money",
    "financials",
    "financial",
    "charges",
    "deposit",
    "gratuity",
    "budget",
    "tipPool",
    "bonus",
    # glued into one lowercase word
    "crewpay",
    "captainfee",
    "hourlyrate",
    "netrevenue",
    "grossrevenue",
    "payrate",
]

NOT_MONEY_ATTRIBUTES = [
    "event_id",
    "notes",
    "title",
    "crew",
    "checklist",
    "date",
    "start",
    "end",
    "boat",
    "guest",
    "status",
    "created_at",
    "updated_at",
    "rated",
    "separate",
    "netid",
    "external_ref",
    "description",
    "party_size",
    "crew_emails",
    "magic_link_sent",
    "captain",
    "person_in_charge",
    "heart_rate",
    "payload",
    "coffee",
    "feedback",
    "pirate",
    "operator",
    "captainName",
    "",
]


@pytest.mark.parametrize("name", MONEY_ATTRIBUTES)
def test_attribute_names_that_speak_of_money(name: str) -> None:
    assert is_money_attribute(name)


@pytest.mark.parametrize("name", NOT_MONEY_ATTRIBUTES)
def test_attribute_names_that_do_not(name: str) -> None:
    assert not is_money_attribute(name)


MONEY_LINES = [
    "Captain fee: $150.00",
    "$25",
    "Bring $1,234.50 in small bills",
    "25.00 USD",
    "USD 25",
    "usd25 extra",
    "Crew gets 25 dollars each",
    "€30 for the cleaning",
    "30 euros",
    "£12",
    "20 bucks for ice",
    "25$ cash",
    "Crew pay 50 each",
    "Revenue looks good this week",
    "PORT FEES are due",
    "Payout on Friday",
    "Hourly rate 25",
    "Rates went up",
    "Cost of fuel",
    "Margin: 34%",
    "profit margin is thin",
    "Gratuity included",
    "Price for the bay tour",
    "crewpay: see office",
    "Net: 289.41",
    "Gross 840.75",
    "Tips 40",
    "40 cash on arrival",
    "Captain 150.00",
    "Deposit of 1,000",
    "- crew_pay = 125",
    "Salary review",
    "Paid in full",
]

NOT_MONEY_LINES = [
    "",
    "   ",
    "Check-in 10:30 at the marina",
    "6 guests, two of them kids",
    "Meeting point: Sheraton Marina, Harbor Island, San Diego",
    "Check-in: 9:30 AM (30 min before departure)",
    "Birthday party: bring a cake knife",
    "Tip: bring sunscreen and a hat",
    "Captain Bill in charge of the lines",
    "Fuel: 45.50 gal on board",
    "Depart 10.30 am sharp",
    "Depth at the slip 12.50 ft",
    "Call +1 619 555 0100 for help",
    "Guest list: 1,2,3 on the manifest",
    "Trip date 12.05.2026",
    "Keep the separate cooler for the kids",
    "Crew: Ana, Bo; boat: Sea Breeze",
    "Rated for 12 passengers",
    "The net is in the forward locker",
    "Charge the VHF radio overnight",
    "Wind 12 kts from the west",
    "Status: confirmed",
    "Pay attention to the kelp near Point Loma",
]


@pytest.mark.parametrize("line", MONEY_LINES)
def test_lines_that_hold_money(line: str) -> None:
    assert is_money_line(line)


@pytest.mark.parametrize("line", NOT_MONEY_LINES)
def test_lines_that_do_not(line: str) -> None:
    assert not is_money_line(line)


def test_scrub_notes_removes_money_lines_and_keeps_the_rest_byte_for_byte() -> None:
    notes = (
        "Meeting point: Sheraton Marina\r\n"
        "Captain fee: $150.00\r\n"
        "\r\n"
        "  Guests bring a cake  \r\n"
        "crew_pay 50.00 USD\n"
        "Check-in 9:30 AM\n"
        "Net revenue 289.41"
    )

    assert scrub_notes(notes) == ("Meeting point: Sheraton Marina\r\n\r\n  Guests bring a cake  \r\nCheck-in 9:30 AM\n")


def test_scrub_notes_leaves_clean_notes_untouched() -> None:
    notes = "Meeting point: Sheraton Marina\n\nCheck-in 9:30 AM\n6 guests\n"

    assert scrub_notes(notes) == notes
    assert scrub_notes("") == ""


def test_scrub_notes_can_leave_nothing() -> None:
    assert scrub_notes("Revenue 840.75\n$25 tip\n") == ""


@given(
    st.lists(
        st.sampled_from(MONEY_LINES + NOT_MONEY_LINES),
        max_size=12,
    ),
    st.sampled_from(["\n", "\r\n"]),
)
def test_scrub_keeps_exactly_the_clean_lines_in_order(lines: list[str], ending: str) -> None:
    notes = "".join(line + ending for line in lines)

    scrubbed = scrub_notes(notes)

    assert scrubbed == "".join(line + ending for line in lines if line in NOT_MONEY_LINES)
    assert scrub_notes(scrubbed) == scrubbed
    assert money_findings(scrubbed) == []


def test_money_findings_walks_nested_payloads_and_names_each_place() -> None:
    payload = {
        "title": "Sea Breeze charter: Jane D., 6 passengers",
        "captain_fee": 150,
        "crew": [
            {"name": "Ana", "email": "ana@example.com", "role": "captain"},
            {"name": "Bo", "email": "bo@example.com", "role": "crew", "payRate": "25.00"},
        ],
        "notes": "Meeting point: Sheraton Marina\nCrew pay $50\nCheck-in 9:30 AM",
        "checklist": ["Life jackets aboard for all 6 passengers", "Collect $40 parking"],
        "guest": {"name": "Jane D.", "party_size": 6},
        "description": "Revenue 840.75",
    }

    assert money_findings(payload) == [
        "captain_fee: attribute speaks of money",
        "crew[1].payRate: attribute speaks of money",
        "notes line 2: 'Crew pay $50'",
        "checklist[1]: 'Collect $40 parking'",
        "description: 'Revenue 840.75'",
    ]


def test_money_findings_of_plain_text_and_clean_values() -> None:
    assert money_findings("Check-in 9:30\nCrew pay $50") == ["text line 2: 'Crew pay $50'"]
    assert money_findings({"party_size": 6, "start": "2026-12-04T10:00:00-08:00", "ok": True, "x": None}) == []
    assert money_findings(["6 guests", ("10:30",)]) == []


def test_names_in_a_payload_are_names_not_talk_of_money() -> None:
    payload = {
        "title": "Pay Day charter: Penny P., 6 passengers",
        "boat": "Pay Day",
        "guest": {"name": "Penny P.", "party_size": 6},
        "crew": [{"name": "Sam  Price", "email": "sam.price@jada.example", "role": "captain"}],
        "description": "3 h charter aboard PAY DAY with Sam Price at the helm",
        "notes": "Crew pay is settled by the office",
    }

    assert proper_names(payload) == ["Pay Day", "Penny P.", "Sam  Price", "sam.price@jada.example"]
    assert money_findings(payload) == ["notes: 'Crew pay is settled by the office'"]


def test_a_partial_update_gets_its_names_from_the_caller() -> None:
    update = {"title": "Pay Day charter: Jane D., 8 passengers"}

    assert money_findings(update) == ["title: 'Pay Day charter: Jane D., 8 passengers'"]
    assert money_findings(update, names=["Pay Day"]) == []


def test_an_amount_inside_a_name_is_still_money() -> None:
    payload = {"boat": "$5 Cruise", "title": "$5 Cruise charter"}

    assert money_findings(payload) == ["boat: '$5 Cruise'", "title: '$5 Cruise charter'"]
