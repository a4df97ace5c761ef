"""Who sails a charter, what the crew are told, and the rules that keep money away from them.

ShipCaptainCrew (SCC) e-mails every assigned crew member, and the crew must never see what the charter earns or
what anyone is paid (CONTRACT.md section 6). So the SCC event is built from an allow-list of operational fields,
and the money rules here decide which attribute names and which lines of text speak of money: the guard before
anything is sent to SCC, and the scrub of what SCC itself writes into its events table.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from charter_pipeline.booking import Booking
    from charter_pipeline.config import BoatCrew, CrewMember, PipelineConfig

CrewRole = Literal["captain", "crew"]
SCC_STATUSES = ("confirmed", "cancelled")

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
    booking: Booking, config: PipelineConfig, crew: Iterable[CrewAssignment], *, status: str = "confirmed"
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
    if status == "cancelled":
        event["status"] = status
    return {name: event[name] for name in SCC_EVENT_FIELDS if name in event}


# --- the money rules -------------------------------------------------------------------------------------------


def _word_set(*families: str) -> frozenset[str]:
    return frozenset(word for family in families for word in family.split())


# Words that speak of money wherever they appear (CONTRACT.md section 6: revenue, fees, pay, rates, payout, cost,
# margin), with their kin.
_MONEY_WORDS = _word_set(
    "revenue revenues income earnings profit profits profitable margin margins",
    "fee fees surcharge surcharges fare fares",
    "pay pays paid paying payment payments payout payouts payroll paycheck paychecks payable payee payer",
    "unpaid prepaid overpaid underpaid wage wages salary salaries commission commissions gratuity gratuities",
    "compensation bonus bonuses stipend stipends",
    "price prices priced pricing cost costs costing rate rates expense expenses reimbursement budget budgets",
    "refund refunds refunded invoice invoices invoiced billing billed",
    "usd dollar dollars money monetary financial financials finance finances",
)
# Words that are money in an attribute name ("net", "tips", "charges") but ordinary in crew notes ("Tip: bring
# sunscreen", "in charge"): in a line they count only next to a number ("Net 289.41", "40 cash").
_MONEY_WORDS_BY_NUMBER = _word_set(
    "net gross amount amounts amt balance cash cents bill bills",
    "tip tips tipped tipping charge charges charged deposit deposits tax taxes discount discounts",
)
# Parts that may be glued to a money word in one lowercase token ("crewpay", "captainfee", "hourlyrate").
_COMPOUND_PARTS = _word_set(
    "crew captain deck hand deckhand boat charter trip port fuel cleaning late service booking guest owner operator",
    "hourly daily per hour day base total extra estimated expected actual max min unit sub",
)
_COMPOUND_VOCABULARY = _MONEY_WORDS | _MONEY_WORDS_BY_NUMBER | _COMPOUND_PARTS
# Parts are tried only up to the longest known word, so a long token (a pasted link, a hash) stays linear.
_LONGEST_PART = max(map(len, _COMPOUND_VOCABULARY))
# Word pairs in which the money word means something else.
_NOT_MONEY_PAIRS = frozenset(
    {
        ("in", "charge"),
        ("heart", "rate"),
        ("safety", "margin"),
        ("pay", "attention"),
        ("paid", "attention"),
        ("paying", "attention"),
        ("net", "weight"),
        ("gross", "weight"),
        ("net", "tonnage"),
        ("gross", "tonnage"),
    }
)

# An amount: a currency sign or code next to a number ("$25", "€30", "25$", "USD 25", "25 bucks").
_CURRENCY_AMOUNT = re.compile(
    r"[$€£¥]\s?[-+]?\.?\d|\d\s?[$€£¥¢]|\b(?:usd|eur|gbp)\s?[-+]?\d|\d\s?(?:k\s)?(?:usd|eur|euros?|gbp|bucks|cents?)\b",
    re.IGNORECASE,
)
# A bare figure written as money: thousands separators or exactly two decimals ("1,234", "150.00"), unless a
# unit follows ("12.50 ft", "10.30 am").
_BARE_AMOUNT = re.compile(r"(?<![\w.,:])(?:\d{1,3}(?:,\d{3})+(?:\.\d{2})?|\d+\.\d{2})(?!\w|[.,:]\d)")
_UNIT_AFTER = re.compile(
    r"\s*(?:%|°|(?:am|pm|a\.m|p\.m|h|hrs?|hours?|mins?|minutes?|ft|feet|foot|m|meters?|metres?|km|kts?|knots?|"
    r"nm|nmi|mi|miles?|mph|gal|gallons?|l|liters?|litres?|kg|lbs?)\b)",
    re.IGNORECASE,
)


def _split_case(chunk: str) -> list[str]:
    """Split camelCase, acronyms and digits: "crewPayUSD2" -> crew, Pay, USD, 2 (Unicode-aware)."""
    parts: list[str] = []
    begin = 0
    for i in range(1, len(chunk)):
        before, here = chunk[i - 1], chunk[i]
        after = chunk[i + 1] if i + 1 < len(chunk) else ""
        if (
            before.isdigit() != here.isdigit()
            or (before.islower() and here.isupper())
            or (before.isupper() and here.isupper() and after.islower())
        ):
            parts.append(chunk[begin:i])
            begin = i
    parts.append(chunk[begin:])
    return parts


def _words(text: str) -> list[str]:
    """The words of a name or a line: snake_case, kebab-case, camelCase and prose alike, case-folded."""
    return [part.casefold() for chunk in re.findall(r"[^\W_]+", text) for part in _split_case(chunk)]


def _compound_of(token: str, money: frozenset[str]) -> bool:
    """Whether ``token`` is glued from known parts, one of them in ``money`` ("crewpay"; not "netid", "rated")."""
    # reach[i] holds whether token[:i] splits into known parts, and whether one of them was money.
    reach: list[set[bool]] = [set() for _ in range(len(token) + 1)]
    reach[0].add(False)
    for begin in range(len(token)):
        for had_money in tuple(reach[begin]):
            for end in range(begin + 2, min(begin + _LONGEST_PART, len(token)) + 1):
                part = token[begin:end]
                if part in _COMPOUND_VOCABULARY:
                    reach[end].add(had_money or part in money)
    return True in reach[len(token)]


def _money_word_at(words: list[str], i: int, money: frozenset[str]) -> bool:
    word = words[i]
    if word not in money and (word.isdigit() or not _compound_of(word, money)):
        return False
    before = words[i - 1] if i > 0 else ""
    after = words[i + 1] if i + 1 < len(words) else ""
    return (before, word) not in _NOT_MONEY_PAIRS and (word, after) not in _NOT_MONEY_PAIRS


def is_money_attribute(name: str) -> bool:
    """Whether an attribute name speaks of money: ``captain_fee``, ``crewPay``, ``hourly_rate``, ``net_revenue``.

    Word-based, so ``created_at``, ``rated``, ``separate``, ``netid`` and ``notes`` are not money.
    """
    words = _words(name)
    money = _MONEY_WORDS | _MONEY_WORDS_BY_NUMBER
    return any(_money_word_at(words, i, money) for i in range(len(words)))


def _holds_amount(line: str) -> bool:
    if _CURRENCY_AMOUNT.search(line):
        return True
    return any(not _UNIT_AFTER.match(line, found.end()) for found in _BARE_AMOUNT.finditer(line))


def holds_amount(line: str) -> bool:
    """Whether a line holds an amount ("$25", "25.00 USD", a bare "150.00"), whatever its words say."""
    return _holds_amount(line)


def _speaks_of_money(line: str) -> bool:
    words = _words(line)
    for i in range(len(words)):
        if _money_word_at(words, i, _MONEY_WORDS):
            return True
        if words[i] in _MONEY_WORDS_BY_NUMBER and _money_word_at(words, i, _MONEY_WORDS_BY_NUMBER):
            neighbours = words[max(i - 1, 0) : i] + words[i + 1 : i + 2]
            if any(word.isdigit() for word in neighbours):
                return True
    return False


def is_money_line(line: str) -> bool:
    """Whether a line of text holds an amount or speaks of money (CONTRACT.md section 6).

    Amounts: "$25", "$1,234.50", "25.00 USD", "USD 25", "25 dollars", "€30", or a bare "150.00". Words: revenue,
    fees, pay, rates, payout, cost, margin and their kin, case-insensitive. "10:30" and "6 guests" are not money.
    """
    return _holds_amount(line) or _speaks_of_money(line)


def scrub_notes(text: str) -> str:
    """``text`` without its money lines; every other line stays exactly as it was, line ending included."""
    return "".join(line for line in text.splitlines(keepends=True) if not is_money_line(line))


def proper_names(payload: Any) -> list[str]:
    """The boat, guest and crew names (and crew e-mails) an SCC payload carries: names, not talk of money."""
    if not isinstance(payload, Mapping):
        return []
    guest = payload.get("guest")
    crew = payload.get("crew")
    found = [payload.get("boat"), guest.get("name") if isinstance(guest, Mapping) else None]
    for member in crew if isinstance(crew, list) else []:
        if isinstance(member, Mapping):
            found += [member.get("name"), member.get("email")]
    return [name for name in found if isinstance(name, str) and name.strip()]


def money_findings(value: Any, *, names: Iterable[str] = ()) -> list[str]:
    """Every place in a nested payload (dicts, lists, strings) that speaks of money; empty when it is clean.

    Keys are judged by ``is_money_attribute`` and strings line by line by ``is_money_line``. Each finding names
    its place, e.g. ``crew[0].pay`` or ``notes line 2``. Proper names are not talk of money: a boat called "Pay Day"
    or a deckhand called "Sam Price" is no finding, though an amount inside a name still is. The names are the
    payload's own (``proper_names``) plus ``names``, for a partial update that does not carry them.
    """
    every_name = {" ".join(name.split()) for name in [*proper_names(value), *names]} - {""}
    pattern = "|".join(re.escape(name).replace(r"\ ", r"\s+") for name in sorted(every_name, key=len, reverse=True))
    masked = re.compile(rf"(?<!\w)(?:{pattern})(?!\w)", re.IGNORECASE) if pattern else None
    return _findings(value, "", masked)


def _findings(value: Any, path: str, names: re.Pattern[str] | None) -> list[str]:
    findings: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            place = f"{path}.{key}" if path else str(key)
            if is_money_attribute(str(key)):
                findings.append(f"{place}: attribute speaks of money")
            else:
                findings.extend(_findings(item, place, names))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            findings.extend(_findings(item, f"{path}[{i}]", names))
    elif isinstance(value, str):
        lines = value.splitlines()
        for number, line in enumerate(lines, 1):
            words = names.sub(" ", line) if names else line
            if _holds_amount(line) or _speaks_of_money(words):
                place = f"{path or 'text'} line {number}" if len(lines) > 1 else (path or "text")
                findings.append(f"{place}: {line.strip()!r}")
    return findings
