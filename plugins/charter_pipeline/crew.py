"""Who sails a charter and what the crew are told.

ShipCaptainCrew (SCC) e-mails every assigned crew member, and the crew must never see what the charter earns or
what anyone is paid (CONTRACT.md section 6). So the SCC event is built from an allow-list of operational fields;
``money_words`` decides what speaks of money (the guard before anything is sent to SCC, and the scrub).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from charter_pipeline.service_state import ServiceStatus

if TYPE_CHECKING:
    from charter_pipeline.booking import Booking
    from charter_pipeline.config import BoatCrew, CrewMember, PipelineConfig

CrewRole = Literal["captain", "crew"]
SCC_STATUSES = tuple(ServiceStatus)

# The only fields an SCC event is ever built with (CONTRACT.md section 6). "status" is not in the contract's POST
# body, and SCC may keep its own vocabulary there, so it is sent only to cancel ({"status": "cancelled"}).
SCC_EVENT_FIELDS = (
    "external_ref",
    "title",
    "date",
    "start",
    "end",
    "boat",
    "guest",
    "crew",
    "description",
    "checklist",
    "notes",
    "status",
)


@dataclass(frozen=True)
class CrewAssignment:
    """One person sailing a charter: the captain or a deckhand. ``email`` is empty when no roster lists them."""

    role: CrewRole
    name: str
    email: str = ""

    def to_dict(self) -> dict[str, str]:
        """The SCC shape ``{name, email, role}``; also how an assignment travels in an XCom."""
        return {"name": self.name, "email": self.email, "role": self.role}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CrewAssignment:
        """Inverse of ``to_dict``."""
        role = data["role"]
        if role not in ("captain", "crew"):
            raise ValueError(f"crew role: {role!r} must be 'captain' or 'crew'")
        return cls(role=role, name=str(data["name"]), email=str(data.get("email") or ""))


def external_ref(booking_id: str) -> str:
    """The id both services file a booking under: ``boatsetter:<Booking ID>`` (external_id, external_ref)."""
    return f"boatsetter:{booking_id}"


def iso_local(moment: datetime, tz: tzinfo | None = None) -> str:
    """ISO 8601 with seconds and the UTC offset in force at that instant: ``2026-12-04T10:00:00-08:00``.

    With ``tz`` the instant is first expressed in that zone (the pipeline's ``timezone``).
    """
    if moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone")
    local = moment.astimezone(tz) if tz is not None else moment
    return local.isoformat(timespec="seconds")


def checkin_time(booking: Booking, config: PipelineConfig) -> datetime:
    """When guests check in: ``checkin_lead_minutes`` of elapsed time before departure, in ``config.tz``."""
    start = booking.start.astimezone(UTC)
    return (start - timedelta(minutes=config.checkin_lead_minutes)).astimezone(config.tz)


# --- who sails -------------------------------------------------------------------------------------------------


def _same_name(name: str) -> str:
    return " ".join(name.split()).casefold()


def _roster_entries(config: PipelineConfig, boat: str) -> list[BoatCrew]:
    # The boat's own entry is searched first, so a name listed on two boats takes this boat's e-mail.
    own = config.crew_for_boat(boat)
    return [own, *(entry for entry in config.crew_roster.values() if entry is not own)]


def _roster_member(config: PipelineConfig, boat: str, name: str) -> CrewMember | None:
    """The roster's record of ``name`` on any boat, preferring one that has an e-mail."""
    wanted = _same_name(name)
    found: list[CrewMember] = []
    for entry in _roster_entries(config, boat):
        members = [entry.captain, *entry.crew] if entry.captain else list(entry.crew)
        found.extend(member for member in members if _same_name(member.name) == wanted)
    with_email = [member for member in found if member.email]
    return next(iter(with_email or found), None)


def _captain(booking: Booking, config: PipelineConfig) -> CrewAssignment | None:
    booked = " ".join(booking.captain.split())
    if booked:
        # CONTRACT.md section 3, "Captain": the renter's captain replaces the roster's, with the roster's e-mail
        # (and spelling) when any boat's roster lists the same name, else with no e-mail.
        member = _roster_member(config, booking.boat, booked)
        return CrewAssignment("captain", member.name if member else booked, member.email if member else "")
    roster_captain = config.crew_for_boat(booking.boat).captain
    if roster_captain is None:
        return None
    return CrewAssignment("captain", roster_captain.name, roster_captain.email)


def assigned_crew(booking: Booking, config: PipelineConfig) -> list[CrewAssignment]:
    """Who sails: the captain first (if any), then the boat's roster crew in order, at most ``rates.crew_count``.

    Nobody is assigned twice: a deckhand who is also the booked captain sails as captain and the next deckhand
    on the roster takes the seat.
    """
    captain = _captain(booking, config)
    team = [captain] if captain else []
    seen = {_same_name(captain.name)} if captain else set()
    seats = config.rates.crew_count
    for member in config.crew_for_boat(booking.boat).crew:
        if seats <= 0:
            break
        if _same_name(member.name) in seen:
            continue
        seen.add(_same_name(member.name))
        team.append(CrewAssignment("crew", member.name, member.email))
        seats -= 1
    return team


def roster_boats(config: PipelineConfig) -> list[str]:
    """The boats ``crew_roster`` names (its ``default`` entry is not a boat), in order."""
    return sorted((name for name in config.crew_roster if _same_name(name) != "default"), key=str.casefold)


def default_crew_note(boat: str, known_boats: Collection[str]) -> str:
    """Why a charter sails with the ``default`` crew when that may be a mistake: "" when the roster names the boat,
    or names no boat at all (a roster of only ``default`` means one crew for every boat, CONTRACT.md section 1).

    The boat is not refused (CONTRACT.md section 1: "the default entry serves the rest", and a real booking of a
    boat the roster forgot still needs its guest page); a typo ("Flying Dutchman") is said on the run summary and
    the staff page instead (README Decisions, "Unknown boats")."""
    if not known_boats or any(_same_name(name) == _same_name(boat) for name in known_boats):
        return ""
    return f"default crew: boat {boat!r} is not in crew_roster, which lists {', '.join(known_boats)}"


# --- what the crew are told ------------------------------------------------------------------------------------

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _clock(moment: datetime) -> str:
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def _day(moment: datetime) -> str:
    return f"{_DAYS[moment.weekday()]} {moment.day} {_MONTHS[moment.month - 1]} {moment.year}"


def _clock_on(moment: datetime, day_of: datetime) -> str:
    """The clock time, with the date when it falls on another day than ``day_of`` (a charter past midnight)."""
    if moment.date() == day_of.date():
        return _clock(moment)
    return f"{_clock(moment)} ({_day(moment)})"


def _hours(hours: Decimal) -> str:
    return f"{hours.normalize():f}"


def _passengers(count: int) -> str:
    return f"{count} passenger" if count == 1 else f"{count} passengers"


def crew_checklist(booking: Booking, config: PipelineConfig) -> list[str]:
    """The crew's checklist for this charter, in the order they work it, with local times in ``config.tz``."""
    tz = config.tz
    start = booking.start.astimezone(tz)
    end = booking.end.astimezone(tz)
    checkin = checkin_time(booking, config)
    count = booking.passengers
    help_line = " ".join(part for part in (config.emergency_contact.name, config.emergency_contact.phone) if part)
    if count == 1:
        life_jackets = "Life jacket aboard for the 1 passenger, plus a child size if needed"
    else:
        life_jackets = f"Life jackets aboard for all {count} passengers, plus child sizes if needed"
    return [
        f"{life_jackets}; children under 13 wear theirs whenever the boat is under way",
        (
            "Safety gear checked: throwable flotation, fire extinguishers, flares, first-aid kit, horn, "
            "VHF radio on channel 16"
        ),
        "Engine, bilge pump, battery and navigation lights checked",
        f"Fuel checked for the {_hours(booking.duration_hours)} h charter, with a third held in reserve",
        (
            f"Weather and sea check before {_clock_on(checkin, start)}: marine forecast, wind, swell and small craft "
            "advisories; the captain makes the go/no-go call"
        ),
        (
            f"Guest check-in at {config.meeting_point} at {_clock_on(checkin, start)}: meet {booking.short_name}, "
            f"headcount {_passengers(count)} before boarding"
        ),
        (
            "Safety briefing before casting off: life jacket locations and fitting, man overboard, fire, staying "
            f"seated at speed, how to call for help (VHF 16, {help_line})"
        ),
        f"Underway at {_clock_on(start, start)}: lookout posted, headcount before and after any swim stop",
        (
            f"Return to the dock by {_clock_on(end, start)}: headcount {_passengers(count)} ashore before the guests "
            "leave the dock"
        ),
        "Clean-up: rinse down, trash ashore, lines, fenders and safety gear stowed",
        "Log the trip: departure and return times, passengers carried, fuel used, any incident or repair needed",
    ]


def scc_event_payload(
    booking: Booking, config: PipelineConfig, crew: Iterable[CrewAssignment], *, status: str = ServiceStatus.CONFIRMED
) -> dict[str, Any]:
    """The ShipCaptainCrew event for a booking (CONTRACT.md section 6), from operational fields only.

    No money, no renter e-mail or phone, and only the guest's first name and last initial. ``status`` is
    "confirmed" (no status field: the contract's create body has none) or "cancelled" (``"status": "cancelled"``,
    as SCC cancels).
    """
    if status not in SCC_STATUSES:
        raise ValueError(f"status: {status!r} must be one of {', '.join(SCC_STATUSES)}")
    tz = config.tz
    start = booking.start.astimezone(tz)
    end = booking.end.astimezone(tz)
    checkin = checkin_time(booking, config)
    party = _passengers(booking.passengers)
    event: dict[str, Any] = {
        "external_ref": external_ref(booking.booking_id),
        "title": f"{booking.boat} charter: {booking.short_name}, {party}",
        "date": start.date().isoformat(),  # SCC holds date to the local date of start
        "start": iso_local(start),
        "end": iso_local(end),
        "boat": booking.boat,
        "guest": {"name": booking.short_name, "party_size": booking.passengers},
        "crew": [member.to_dict() for member in crew],
        "description": (
            f"{_hours(booking.duration_hours)} h charter aboard {booking.boat} for {booking.short_name}, party of "
            f"{booking.passengers}, on {_day(start)}: departing {_clock(start)}, back by {_clock_on(end, start)}."
        ),
        "checklist": crew_checklist(booking, config),
        "notes": (
            f"Meeting point: {config.meeting_point}\n"
            f"Check-in: {_clock_on(checkin, start)} ({config.checkin_lead_minutes} min before departure)"
        ),
    }
    if status == ServiceStatus.CANCELLED:
        event["status"] = ServiceStatus.CANCELLED
    return {name: event[name] for name in SCC_EVENT_FIELDS if name in event}
