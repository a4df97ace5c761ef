"""The JADA internal calendar entry for a booking (CONTRACT.md section 5).

The calendar is the operator's own: it carries the full renter name, the renter's contact details (in the notes)
and every figure of the financials, so the office sees what a charter earns and what each seat costs.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from charter_pipeline.crew import CrewAssignment, external_ref, iso_local
from charter_pipeline.money import decimal_json, money_json
from charter_pipeline.service_state import ServiceStatus

if TYPE_CHECKING:
    from charter_pipeline.booking import Booking
    from charter_pipeline.config import PipelineConfig
    from charter_pipeline.money import Financials

CALENDAR_STATUSES = tuple(ServiceStatus)
UNASSIGNED = "Unassigned"


def _seat_costs(financials: Financials) -> list[Decimal]:
    """Each crew seat's share of the crew cost, in whole cents that add up to the crew cost exactly.

    The crew cost is rounded once over all seats (CONTRACT.md section 4), so rounding each seat on its own could
    miss it by a cent or more; the odd cents go to the first seats instead.
    """
    count = financials.crew_count
    if count <= 0:
        return []
    share, odd_cents = divmod(int(financials.crew_cost * 100), count)
    return [Decimal(share + (1 if seat < odd_cents else 0)) / 100 for seat in range(count)]


def crew_assignments(financials: Financials, crew: Iterable[CrewAssignment]) -> list[dict[str, Any]]:
    """The ``crew_assignments`` lines: the captain's, then one per paid crew seat, named from ``crew``.

    Every paid seat gets a line so that the lines add up to the captain and crew costs; a seat the roster could
    not fill is named "Unassigned".
    """
    crew = list(crew)
    captain = next((member.name for member in crew if member.role == "captain"), "")
    deckhands = [member.name for member in crew if member.role == "crew"]
    lines = [
        {
            "role": "captain",
            "name": captain or UNASSIGNED,
            "hours": decimal_json(financials.charter_hours),
            "hourly_rate": money_json(financials.captain_hourly),
            "cost": money_json(financials.captain_cost),
        }
    ]
    for seat, cost in enumerate(_seat_costs(financials)):
        lines.append(
            {
                "role": "crew",
                "name": deckhands[seat] if seat < len(deckhands) else UNASSIGNED,
                "hours": decimal_json(financials.crew_hours),
                "hourly_rate": money_json(financials.crew_hourly),
                "cost": money_json(cost),
            }
        )
    return lines


def _internal_notes(booking: Booking) -> str:
    lines = []
    if booking.renter_email:
        lines.append(f"Renter e-mail: {booking.renter_email}")
    if booking.renter_phone:
        lines.append(f"Renter phone: {booking.renter_phone}")
    if booking.captain:
        lines.append(f"Captain booked by the renter: {booking.captain}")
    lines.append(f"Boatsetter status: {booking.status}")
    return "\n".join(lines)


def calendar_entry_payload(
    booking: Booking,
    financials: Financials,
    crew: Iterable[CrewAssignment],
    *,
    guest_url: str,
    status: str,
    config: PipelineConfig,
) -> dict[str, Any]:
    """The body of ``POST {host}/calendar`` for ``booking`` (CONTRACT.md section 5).

    Money fields are JSON numbers with at most two decimals; ``start`` and ``end`` carry the UTC offset of the
    pipeline's time zone at that instant. ``status`` is "confirmed" or "cancelled".
    """
    if status not in CALENDAR_STATUSES:
        raise ValueError(f"status: {status!r} must be one of {', '.join(CALENDAR_STATUSES)}")
    crew = list(crew)
    captain = next((member.name for member in crew if member.role == "captain"), "")
    return {
        "external_id": external_ref(booking.booking_id),
        "event_type": "charter",
        "source": "boatsetter",
        "status": status,
        "charter_date": booking.start.astimezone(config.tz).date().isoformat(),
        "start": iso_local(booking.start, config.tz),
        "end": iso_local(booking.end, config.tz),
        "duration_hours": decimal_json(financials.charter_hours),
        "boat": booking.boat,
        "guest_name": booking.renter_name,
        "party_size": booking.passengers,
        "captain": captain,
        "crew_assignments": crew_assignments(financials, crew),
        "gross_revenue": money_json(financials.gross_revenue),
        "crew_cost": money_json(financials.crew_cost),
        "captain_cost": money_json(financials.captain_cost),
        "port_fee_percent": decimal_json(financials.port_fee_percent),
        "port_fee": money_json(financials.port_fee),
        "net_revenue": money_json(financials.net_revenue),
        "guest_url": guest_url,
        "notes": _internal_notes(booking),
    }
