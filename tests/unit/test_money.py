"""Financials of a booking (CONTRACT.md section 4) and how money is written into JSON."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charter_pipeline.config import RateCard, load_config
from charter_pipeline.money import Financials, compute_financials, money_json
from tests.factories import make_booking

TZ = ZoneInfo("America/Los_Angeles")
DEFAULT_RATES = load_config(None).rates


def rates(**changes: object) -> RateCard:
    values = {key: Decimal(str(value)) if key != "crew_count" else value for key, value in changes.items()}
    return replace(DEFAULT_RATES, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("gross", "hours", "rate_card", "crew", "captain", "port_fee", "net"),
    [
        pytest.param(
            "840.75", "3", DEFAULT_RATES, "250.00", "150.00", "151.34", "289.41", id="operator worked example"
        ),
        # 12.25 x 10% = 1.225: half-up gives 1.23 where banker's rounding would give 1.22.
        pytest.param("12.25", "1", rates(port_fee_percent=10), "150.00", "50.00", "1.23", "-188.98", id="fee half-up"),
        pytest.param(
            "12.24", "1", rates(port_fee_percent=10), "150.00", "50.00", "1.22", "-188.98", id="fee below half"
        ),
        # 10.005 x 1 h: the crew line item itself sits on the half cent.
        pytest.param(
            "100.00",
            "1",
            rates(crew_count=1, crew_hourly="10.005", crew_extra_hours=0),
            "10.01",
            "50.00",
            "18.00",
            "21.99",
            id="crew half-up",
        ),
        # 25.25 x 2.5 h = 63.125
        pytest.param(
            "500.00", "2.5", rates(captain_hourly="25.25"), "225.00", "63.13", "90.00", "121.87", id="captain half-up"
        ),
        pytest.param("100.03", "1", rates(port_fee_percent="17.5"), "150.00", "50.00", "17.51", "-117.48", id="odd %"),
        pytest.param("1000.00", "2.75", DEFAULT_RATES, "237.50", "137.50", "180.00", "445.00", id="fractional hours"),
        pytest.param("600.00", "1.3333", DEFAULT_RATES, "166.67", "66.67", "108.00", "258.66", id="thirds of an hour"),
        pytest.param("0", "3", DEFAULT_RATES, "250.00", "150.00", "0.00", "-400.00", id="zero gross, net negative"),
        pytest.param(
            "999999999.99", "24", DEFAULT_RATES, "1300.00", "1200.00", "180000000.00", "819997499.99", id="big gross"
        ),
        pytest.param("840.75", "3", rates(crew_count=0), "0.00", "150.00", "151.34", "539.41", id="no crew"),
        pytest.param(
            "840.75",
            "3",
            rates(crew_hourly=0, captain_hourly=0, port_fee_percent=0),
            "0.00",
            "0.00",
            "0.00",
            "840.75",
            id="owner sails alone",
        ),
    ],
)
def test_line_items_round_half_up_and_net_is_gross_minus_them(
    gross: str, hours: str, rate_card: RateCard, crew: str, captain: str, port_fee: str, net: str
) -> None:
    money = compute_financials(make_booking(gross=Decimal(gross), duration_hours=Decimal(hours)), rate_card)

    assert (str(money.crew_cost), str(money.captain_cost), str(money.port_fee), str(money.net_revenue)) == (
        crew,
        captain,
        port_fee,
        net,
    )
    assert money.net_revenue == money.gross_revenue - money.crew_cost - money.captain_cost - money.port_fee


def test_worked_example_keeps_its_inputs() -> None:
    money = compute_financials(make_booking(gross=Decimal("840.75"), duration_hours=Decimal("3")), DEFAULT_RATES)

    assert money.gross_revenue == Decimal("840.75")
    assert money.charter_hours == Decimal("3")
    assert money.crew_hours == Decimal("5")
    assert money.crew_count == 2
    assert (money.crew_hourly, money.captain_hourly, money.port_fee_percent) == (
        Decimal("25.00"),
        Decimal("50.00"),
        Decimal("18"),
    )
    assert money.costs == Decimal("551.34")


def test_gross_with_a_fraction_of_a_cent_is_taken_to_the_cent() -> None:
    money = compute_financials(
        make_booking(gross=Decimal("100.005"), duration_hours=Decimal("1")), rates(port_fee_percent=0)
    )

    assert money.gross_revenue == Decimal("100.01")
    assert money.net_revenue == Decimal("100.01") - Decimal("150.00") - Decimal("50.00")


def test_to_dict_writes_money_as_cent_strings_and_round_trips() -> None:
    money = compute_financials(make_booking(gross=Decimal("840.7"), duration_hours=Decimal("3")), DEFAULT_RATES)
    data = money.to_dict()

    assert data == {
        "gross_revenue": "840.70",
        "charter_hours": "3",
        "crew_hours": "5",
        "crew_count": 2,
        "crew_hourly": "25.00",
        "captain_hourly": "50.00",
        "crew_cost": "250.00",
        "captain_cost": "150.00",
        "port_fee_percent": "18",
        "port_fee": "151.33",
        "net_revenue": "289.37",
    }
    assert json.loads(json.dumps(data)) == data
    assert Financials.from_dict(data) == money


def test_negative_net_survives_the_round_trip() -> None:
    money = compute_financials(make_booking(gross=Decimal("10.00"), duration_hours=Decimal("4")), DEFAULT_RATES)

    assert money.to_dict()["net_revenue"] == "-491.80"
    assert Financials.from_dict(money.to_dict()).net_revenue == Decimal("-491.80")


def _half_up_cents(value: Fraction) -> Fraction:
    """An independent oracle: round a non-negative exact fraction to cents, half-up."""
    hundredths = value * 100
    whole = hundredths.numerator // hundredths.denominator
    if hundredths - whole >= Fraction(1, 2):
        whole += 1
    return Fraction(whole, 100)


amounts = st.decimals(min_value=0, max_value=Decimal("99999999.99"), places=2)
hours = st.decimals(min_value=Decimal("0.01"), max_value=24, places=4)
hourly = st.decimals(min_value=0, max_value=500, places=3)


@given(
    gross=amounts,
    charter_hours=hours,
    crew_count=st.integers(min_value=0, max_value=10),
    crew_hourly=hourly,
    extra=st.decimals(min_value=0, max_value=8, places=2),
    captain_hourly=hourly,
    percent=st.decimals(min_value=0, max_value=100, places=3),
)
def test_every_item_is_its_exact_value_rounded_half_up_and_net_adds_up(
    gross: Decimal,
    charter_hours: Decimal,
    crew_count: int,
    crew_hourly: Decimal,
    extra: Decimal,
    captain_hourly: Decimal,
    percent: Decimal,
) -> None:
    card = RateCard(crew_count, crew_hourly, extra, captain_hourly, percent)
    money = compute_financials(
        make_booking(gross=Decimal(str(gross)), duration_hours=Decimal(str(charter_hours))), card
    )

    exact_crew = crew_count * Fraction(crew_hourly) * (Fraction(charter_hours) + Fraction(extra))
    assert Fraction(money.crew_cost) == _half_up_cents(exact_crew)
    assert Fraction(money.captain_cost) == _half_up_cents(Fraction(captain_hourly) * Fraction(charter_hours))
    assert Fraction(money.port_fee) == _half_up_cents(Fraction(gross) * Fraction(percent) / 100)
    for item in (money.gross_revenue, money.crew_cost, money.captain_cost, money.port_fee, money.net_revenue):
        assert item.as_tuple().exponent == -2
    assert money.net_revenue == gross - money.crew_cost - money.captain_cost - money.port_fee
    assert Financials.from_dict(money.to_dict()) == money


@pytest.mark.parametrize(
    ("amount", "printed"),
    [
        ("289.41", "289.41"),
        ("250.00", "250"),
        ("151.335", "151.34"),
        ("0.10", "0.1"),
        ("0", "0"),
        ("-400.00", "-400"),
        ("-0.05", "-0.05"),
        ("999999999.99", "999999999.99"),
        ("1234567.89", "1234567.89"),
    ],
)
def test_money_json_prints_the_amount_to_the_cent(amount: str, printed: str) -> None:
    assert json.dumps(money_json(Decimal(amount))) == printed


@given(st.decimals(min_value=Decimal("-999999999.99"), max_value=Decimal("999999999.99"), places=2))
def test_money_json_never_prints_a_float_artifact(amount: Decimal) -> None:
    printed = json.dumps({"net_revenue": money_json(amount)})
    number = json.loads(printed, parse_float=Decimal, parse_int=Decimal)["net_revenue"]

    assert number == amount
    assert number == number.quantize(Decimal("0.01"))


def test_money_json_refuses_what_is_not_a_number() -> None:
    with pytest.raises(ValueError, match="not a number"):
        money_json(Decimal("NaN"))
