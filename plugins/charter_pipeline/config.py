"""The ``charter_pipeline`` Variable: its defaults, and validation into a typed config.

A deployment sets only the keys that differ from the defaults (CONTRACT.md section 1). Nested objects
(``rates``, ``emergency_contact``) merge key by key; ``crew_roster`` entries replace whole boats.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

VARIABLE_KEY = "charter_pipeline"

DEFAULTS: dict[str, Any] = {
    "exports_uri": "s3://jada-boatsetter-exports/incoming/",
    "quarantine_uri": "s3://jada-boatsetter-exports/quarantine/",
    "ledger_table": "charter-booking-ledger",
    "scc_events_table": "scc-events",
    "guest_bucket": "queenofsandiego.com",
    "guest_base_url": "https://queenofsandiego.com/g/",
    "cloudfront_distribution_id": "",
    "timezone": "America/Los_Angeles",
    "checkin_lead_minutes": 30,
    "meeting_point": "Sheraton Marina, Harbor Island, San Diego",
    "emergency_contact": {"name": "JADA Charters operations", "phone": "+1 619 555 0100"},
    "rates": {
        "crew_count": 2,
        "crew_hourly": "25.00",
        "crew_extra_hours": "2",
        "captain_hourly": "50.00",
        "port_fee_percent": "18",
    },
    "crew_roster": {"default": {"captain": {"name": "", "email": ""}, "crew": []}},
    "max_bookings_per_run": 100,
    # Aftercare (CONTRACT.md section 11): how far ahead crew answers are checked, how long a page outlives its trip.
    "crew_confirm_hours": 48,
    "guest_page_retention_days": 3,
}

# Objects whose keys a deployment may set one at a time; crew_roster entries add to the default entry.
_MERGED_OBJECTS = ("emergency_contact", "rates", "crew_roster")
_LOCATION = re.compile(r"^(s3://[^/]+/.*|file:///.*)$")


class ConfigError(ValueError):
    """The ``charter_pipeline`` Variable holds a value the pipeline cannot use; the message names the key."""


@dataclass(frozen=True)
class CrewMember:
    """One person on a boat's roster. ``email`` may be empty (then SCC cannot reach them)."""

    name: str
    email: str = ""


@dataclass(frozen=True)
class BoatCrew:
    """Who sails a boat: the roster captain and the deckhands, in the order they are assigned."""

    captain: CrewMember | None
    crew: tuple[CrewMember, ...] = ()


@dataclass(frozen=True)
class RateCard:
    """What the operator pays per charter hour (CONTRACT.md section 4). All money is Decimal."""

    crew_count: int
    crew_hourly: Decimal
    crew_extra_hours: Decimal
    captain_hourly: Decimal
    port_fee_percent: Decimal


@dataclass(frozen=True)
class EmergencyContact:
    name: str
    phone: str


@dataclass(frozen=True)
class PipelineConfig:
    """The validated ``charter_pipeline`` Variable."""

    exports_uri: str
    quarantine_uri: str
    ledger_table: str
    scc_events_table: str
    guest_bucket: str
    guest_base_url: str
    cloudfront_distribution_id: str
    timezone: str
    checkin_lead_minutes: int
    meeting_point: str
    emergency_contact: EmergencyContact
    rates: RateCard
    crew_roster: Mapping[str, BoatCrew] = field(default_factory=dict)
    max_bookings_per_run: int = 100
    crew_confirm_hours: int = 48
    guest_page_retention_days: int = 3

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def crew_for_boat(self, boat: str) -> BoatCrew:
        """The roster entry for ``boat`` (matched case-insensitively), else the ``default`` entry."""
        wanted = boat.strip().casefold()
        for name, entry in self.crew_roster.items():
            if name.strip().casefold() == wanted:
                return entry
        return self.crew_roster.get("default", BoatCrew(captain=None))

    def guest_url(self, session_id: str) -> str:
        return f"{self.guest_base_url}{session_id}"


def merged_settings(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """The defaults overlaid with what a deployment set, before validation."""
    settings = copy.deepcopy(DEFAULTS)
    for key, value in (raw or {}).items():
        if key in _MERGED_OBJECTS and isinstance(value, Mapping):
            settings[key] = {**settings[key], **value}
        else:
            settings[key] = value
    return settings


def load_config(raw: Mapping[str, Any] | str | None) -> PipelineConfig:
    """Validate the Variable (a dict, its JSON text, or None for all defaults) into a PipelineConfig.

    Unknown keys are refused so that a typo in a deployment is caught instead of silently ignored.
    """
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{VARIABLE_KEY}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if raw is not None and not isinstance(raw, Mapping):
        raise ConfigError(f"{VARIABLE_KEY}: must be a JSON object")
    unknown = sorted(set(raw or {}) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"{VARIABLE_KEY}: unknown key(s) {', '.join(unknown)}")
    s = merged_settings(raw)

    for key in ("exports_uri", "quarantine_uri"):
        value = _text(s, key)
        if not _LOCATION.match(value):
            raise ConfigError(f"{key}: {value!r} must be s3://bucket/prefix/ or file:///absolute/folder/")
        s[key] = value if value.endswith("/") else value + "/"
    for key in ("ledger_table", "scc_events_table", "guest_bucket", "guest_base_url", "meeting_point"):
        if not _text(s, key):
            raise ConfigError(f"{key}: must not be empty")
    if not s["guest_base_url"].endswith("/"):
        raise ConfigError(f"guest_base_url: {s['guest_base_url']!r} must end with '/'")
    try:
        ZoneInfo(_text(s, "timezone"))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"timezone: {s['timezone']!r} is not an IANA time zone") from None

    contact = s["emergency_contact"]
    if not isinstance(contact, Mapping) or not str(contact.get("phone", "")).strip():
        raise ConfigError("emergency_contact.phone: must not be empty")

    return PipelineConfig(
        exports_uri=s["exports_uri"],
        quarantine_uri=s["quarantine_uri"],
        ledger_table=s["ledger_table"],
        scc_events_table=s["scc_events_table"],
        guest_bucket=s["guest_bucket"],
        guest_base_url=s["guest_base_url"],
        cloudfront_distribution_id=_text(s, "cloudfront_distribution_id"),
        timezone=s["timezone"],
        checkin_lead_minutes=_whole(s["checkin_lead_minutes"], "checkin_lead_minutes", 0, 24 * 60),
        meeting_point=s["meeting_point"],
        emergency_contact=EmergencyContact(
            name=str(contact.get("name", "")).strip(), phone=str(contact["phone"]).strip()
        ),
        rates=_rate_card(s["rates"]),
        crew_roster=_roster(s["crew_roster"]),
        max_bookings_per_run=_whole(s["max_bookings_per_run"], "max_bookings_per_run", 1, 1024),
        crew_confirm_hours=_whole(s["crew_confirm_hours"], "crew_confirm_hours", 1, 24 * 31),
        guest_page_retention_days=_whole(s["guest_page_retention_days"], "guest_page_retention_days", 0, 3650),
    )


def _text(settings: Mapping[str, Any], key: str) -> str:
    value = settings[key]
    if not isinstance(value, str):
        raise ConfigError(f"{key}: must be a string")
    return value.strip()


def _whole(value: Any, key: str, low: int, high: int) -> int:
    # bool is an int in Python; true/false in a deployment's JSON is a mistake, not a number.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"{key}: must be a whole number from {low} to {high}")
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{key}: {value!r} must be a whole number from {low} to {high}") from None
    if not low <= number <= high:
        raise ConfigError(f"{key}: {number} must be a whole number from {low} to {high}")
    return number


def _money(value: Any, key: str) -> Decimal:
    # Floats are refused on purpose: 0.1 + 0.2 style drift has no place in a rate card.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigError(f'{key}: must be a decimal string such as "25.00"')
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ConfigError(f"{key}: {value!r} is not a decimal number") from None
    if not number.is_finite() or number < 0:
        raise ConfigError(f"{key}: {value!r} must be zero or more")
    return number


def _rate_card(rates: Any) -> RateCard:
    if not isinstance(rates, Mapping):
        raise ConfigError("rates: must be a JSON object")
    unknown = sorted(set(rates) - set(DEFAULTS["rates"]))
    if unknown:
        raise ConfigError(f"rates: unknown key(s) {', '.join(unknown)}")
    percent = _money(rates["port_fee_percent"], "rates.port_fee_percent")
    if percent > 100:
        raise ConfigError("rates.port_fee_percent: must be at most 100")
    return RateCard(
        crew_count=_whole(rates["crew_count"], "rates.crew_count", 0, 50),
        crew_hourly=_money(rates["crew_hourly"], "rates.crew_hourly"),
        crew_extra_hours=_money(rates["crew_extra_hours"], "rates.crew_extra_hours"),
        captain_hourly=_money(rates["captain_hourly"], "rates.captain_hourly"),
        port_fee_percent=percent,
    )


def _member(value: Any, key: str) -> CrewMember | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: must be an object with name and email")
    name = str(value.get("name") or "").strip()
    email = str(value.get("email") or "").strip()
    if email and "@" not in email:
        raise ConfigError(f"{key}.email: {email!r} is not an e-mail address")
    return CrewMember(name=name, email=email) if name else None


def _roster(roster: Any) -> dict[str, BoatCrew]:
    if not isinstance(roster, Mapping):
        raise ConfigError("crew_roster: must be a JSON object of boat name to crew")
    boats: dict[str, BoatCrew] = {}
    for boat, entry in roster.items():
        if not isinstance(entry, Mapping):
            raise ConfigError(f"crew_roster.{boat}: must be an object with captain and crew")
        members = entry.get("crew") or []
        if not isinstance(members, list):
            raise ConfigError(f"crew_roster.{boat}.crew: must be a list")
        crew = tuple(m for i, raw in enumerate(members) if (m := _member(raw, f"crew_roster.{boat}.crew[{i}]")))
        boats[str(boat)] = BoatCrew(captain=_member(entry.get("captain"), f"crew_roster.{boat}.captain"), crew=crew)
    return boats
