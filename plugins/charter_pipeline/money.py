"""What a charter earns and costs (CONTRACT.md section 4), in Decimal only.

Each line item (crew cost, captain cost, port fee) is rounded to cents half-up on its own, and net revenue is the
gross minus those rounded items, so the figures on the calendar always add up to the cent. Net may be negative
(a cheap charter with a full crew): that is the operator's truth, never clamped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from charter_pipeline.booking import Booking
    from charter_pipeline.config import RateCard

CENT = Decimal("0.01")
# Enough digits that no product of a rate card and a booking is ever rounded before the cents are taken.
_PRECISION = 60

_MONEY_FIELDS = ("gross_revenue", "crew_cost", "captain_cost", "port_fee", "net_revenue")
_DECIMAL_FIELDS = ("charter_hours", "crew_hours", "crew_hourly", "captain_hourly", "port_fee_percent")


def cents(value: Decimal) -> Decimal:
    """``value`` rounded to cents, half-up (0.005 -> 0.01), as the contract rounds every line item."""
    with localcontext() as context:
        context.prec = _PRECISION
        return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Financials:
    """One booking's money: the inputs it was computed from and the rounded line items.

    ``gross_revenue`` and the four computed amounts always have exactly two decimals; hours, hourly rates and
    the port fee percentage are kept exactly as the booking and the rate card gave them.
    """

    gross_revenue: Decimal
    charter_hours: Decimal
    crew_hours: Decimal
    crew_count: int
    crew_hourly: Decimal
    captain_hourly: Decimal
    crew_cost: Decimal
    captain_cost: Decimal
    port_fee_percent: Decimal
    port_fee: Decimal
    net_revenue: Decimal

    @property
    def costs(self) -> Decimal:
        """Crew cost, captain cost and port fee together: everything taken out of the gross."""
        return self.crew_cost + self.captain_cost + self.port_fee

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for XComs and the ledger: money as strings with two decimals ("250.00")."""
        data: dict[str, Any] = {name: str(getattr(self, name)) for name in _DECIMAL_FIELDS + _MONEY_FIELDS}
        data["crew_count"] = self.crew_count
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Financials:
        """Inverse of ``to_dict``."""
        values: dict[str, Any] = {name: Decimal(str(data[name])) for name in _DECIMAL_FIELDS + _MONEY_FIELDS}
        return cls(crew_count=int(data["crew_count"]), **values)


def compute_financials(booking: Booking, rates: RateCard) -> Financials:
    """The booking's financials under ``rates`` (CONTRACT.md section 4).

    crew hours = charter hours + crew_extra_hours; crew cost = crew_count x crew_hourly x crew hours;
    captain cost = captain_hourly x charter hours; port fee = port_fee_percent % of gross; net = gross - items.
    """
    with localcontext() as context:
        context.prec = _PRECISION
        gross = cents(booking.gross)
        charter_hours = booking.duration_hours
        crew_hours = charter_hours + rates.crew_extra_hours
        crew_cost = cents(rates.crew_count * rates.crew_hourly * crew_hours)
        captain_cost = cents(rates.captain_hourly * charter_hours)
        port_fee = cents(gross * rates.port_fee_percent / 100)
        net = gross - crew_cost - captain_cost - port_fee
    return Financials(
        gross_revenue=gross,
        charter_hours=charter_hours,
        crew_hours=crew_hours,
        crew_count=rates.crew_count,
        crew_hourly=rates.crew_hourly,
        captain_hourly=rates.captain_hourly,
        crew_cost=crew_cost,
        captain_cost=captain_cost,
        port_fee_percent=rates.port_fee_percent,
        port_fee=port_fee,
        net_revenue=net,
    )


def decimal_json(value: Decimal) -> int | float:
    """An exact Decimal as a JSON number: an int when whole, else the float json.dumps prints back digit for digit.

    Floats keep 15 significant digits, so every amount below ten trillion dollars prints exactly as it is.
    """
    if not value.is_finite():
        raise ValueError(f"{value} is not a number JSON can carry")
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def money_json(value: Decimal) -> int | float:
    """How money goes into JSON (CONTRACT.md section 5): a number with at most two decimals.

    ``json.dumps(money_json(Decimal("289.41")))`` prints ``289.41``; whole amounts print as ``250``.
    """
    return decimal_json(cents(value))
