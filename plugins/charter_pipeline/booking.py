"""The Booking record: one Boatsetter booking snapshot, typed and validated.

A Booking is plain data. It travels between tasks as ``to_dict()`` (JSON-safe, so it fits an XCom) and is
stored in the ledger the same way.

``parse_booking`` turns one export row (or a manual run's ``booking`` conf) into a Booking by the rules of
CONTRACT.md section 3, or raises ``BookingError`` naming the operator's column and quoting the bad value.
Decisions where the contract is silent:

- Header names match through ``column_key``; snake_case field names (``start_time``) are the same columns.
  When two columns name the same field (``Gross`` and ``gross`` in one JSON object), they must agree.
- Text is stripped, control characters are dropped and runs of whitespace become one space. A Booking ID
  holding a control character or line break is refused instead (it becomes part of outside ids).
- Boat, Renter Name and Captain are at most 200 characters, Renter Email 254, Renter Phone 64.
- Trip Date years run from 2000 to 2099: anything else is a typo, not a charter.
- Start Time also takes ``H:MM`` and seconds (``14:00:00``, what spreadsheets write). A local time that does not
  exist (the spring-forward gap) is refused; an ambiguous one (the fall-back hour) is its first occurrence.
- Duration Hours and Gross keep every decimal they were given, exactly (money.py rounds to cents half-up).
  Gross is below 1,000,000,000. JSON numbers are read as text, so ``840.75`` and ``"840.75"`` are the same.
- Passengers accepts whole numbers written as ``6``, ``6.0`` (spreadsheets) or a JSON number; never ``6.5``
  or ``true``.
- Updated At is ISO 8601. One without an offset is local time in the pipeline's time zone, like every other
  time in an export (an ambiguous one is its first occurrence); it is stored in UTC.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any, Final
from zoneinfo import ZoneInfo

# Boatsetter statuses (CONTRACT.md section 3), normalised to lower case with single spaces.
CHARTER_STATUSES = frozenset({"approved", "confirmed", "in progress", "completed"})
CANCELLED_STATUSES = frozenset({"cancelled", "canceled"})
NOT_A_CHARTER_STATUSES = frozenset({"inquiry", "pre-approved", "payment held", "expired"})
KNOWN_STATUSES = CHARTER_STATUSES | CANCELLED_STATUSES | NOT_A_CHARTER_STATUSES


class BookingError(ValueError):
    """A row or manual booking that fails validation. ``field`` is the column name as the operator knows it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Booking:
    """One booking as Boatsetter last described it. Times are aware, in the pipeline's time zone."""

    booking_id: str
    status: str  # normalised: one of KNOWN_STATUSES, "canceled" folded into "cancelled"
    boat: str
    renter_name: str
    trip_date: date
    start: datetime
    duration_hours: Decimal
    passengers: int
    gross: Decimal
    captain: str = ""  # empty when the renter did not book a captain (the roster's captain sails)
    renter_email: str = ""
    renter_phone: str = ""
    updated_at: datetime | None = None  # aware, UTC

    @property
    def end(self) -> datetime:
        """Elapsed-time end of the charter, expressed in the start's zone (a DST change mid-charter is honoured)."""
        # Exact Decimal microseconds: a float of 2.3333333333333335 hours would drift.
        elapsed = timedelta(microseconds=int((self.duration_hours * 3_600_000_000).to_integral_value()))
        return (self.start.astimezone(UTC) + elapsed).astimezone(self.start.tzinfo)

    @property
    def is_charter(self) -> bool:
        """Approved, confirmed, in progress or completed: a charter that should have its artifacts."""
        return self.status in CHARTER_STATUSES

    @property
    def is_cancelled(self) -> bool:
        return self.status in CANCELLED_STATUSES

    @property
    def first_name(self) -> str:
        parts = self.renter_name.split()
        return parts[0] if parts else ""

    @property
    def short_name(self) -> str:
        """First name and last initial ("Jane D."), the most of a guest's name that crew see."""
        parts = self.renter_name.split()
        if len(parts) < 2:
            return self.first_name
        return f"{parts[0]} {parts[-1][0].upper()}."

    @property
    def label(self) -> str:
        """How the Airflow UI names this booking's map index: booking id and guest first name."""
        return f"{self.booking_id} ({self.first_name})" if self.first_name else self.booking_id

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: Decimals as strings, dates and datetimes as ISO 8601."""
        return {
            "booking_id": self.booking_id,
            "status": self.status,
            "boat": self.boat,
            "renter_name": self.renter_name,
            "renter_email": self.renter_email,
            "renter_phone": self.renter_phone,
            "trip_date": self.trip_date.isoformat(),
            "start": self.start.isoformat(),
            "timezone": str(self.start.tzinfo),
            "duration_hours": str(self.duration_hours),
            "passengers": self.passengers,
            "captain": self.captain,
            "gross": str(self.gross),
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Booking:
        """Inverse of ``to_dict``."""
        tz = ZoneInfo(data["timezone"])
        updated = data.get("updated_at")
        return cls(
            booking_id=data["booking_id"],
            status=data["status"],
            boat=data["boat"],
            renter_name=data["renter_name"],
            renter_email=data.get("renter_email", ""),
            renter_phone=data.get("renter_phone", ""),
            trip_date=date.fromisoformat(data["trip_date"]),
            start=datetime.fromisoformat(data["start"]).astimezone(tz),
            duration_hours=Decimal(data["duration_hours"]),
            passengers=int(data["passengers"]),
            captain=data.get("captain", ""),
            gross=Decimal(data["gross"]),
            updated_at=datetime.fromisoformat(updated).astimezone(UTC) if updated else None,
        )


def fingerprint(booking: Booking) -> str:
    """Hash of everything the pipeline uses from a booking.

    ``updated_at`` is left out on purpose: the same snapshot re-exported later is not a change. Statuses that
    mean the same to the pipeline (approved, confirmed, in progress, completed) hash the same, so a charter
    moving to "completed" sends nobody an e-mail. Gross counts to the cent, rounded half-up as money is.
    """
    status = "approved" if booking.is_charter else "cancelled" if booking.is_cancelled else booking.status
    # Joined with the unit separator, a control character parse_booking never lets into a field. Much cheaper
    # than JSON, and the intake benchmark (issue 9) fingerprints every booking of a 100,000-row export.
    blob = "\x1f".join(
        (
            booking.booking_id,
            status,
            booking.boat,
            booking.renter_name,
            booking.renter_email,
            booking.renter_phone,
            booking.trip_date.isoformat(),
            booking.start.isoformat(),
            str(booking.start.tzinfo),
            _plain(booking.duration_hours),
            str(booking.passengers),
            booking.captain,
            str(booking.gross.quantize(_CENT, rounding=ROUND_HALF_UP)),
        )
    )
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _plain(number: Decimal) -> str:
    """``3``, ``3.5``: trailing zeros gone and never an exponent (``Decimal("20").normalize()`` is ``2E+1``)."""
    return format(number.normalize(), "f")


_CENT: Final = Decimal("0.01")

# ---------------------------------------------------------------------------------------------------------------
# Parsing one row


# The operator's column names (CONTRACT.md section 3) by parse field, in the order problems are reported.
# Trip Date and Start Time together make Booking.trip_date and Booking.start.
COLUMNS: Final[Mapping[str, str]] = {
    "booking_id": "Booking ID",
    "status": "Status",
    "boat": "Boat",
    "renter_name": "Renter Name",
    "trip_date": "Trip Date",
    "start_time": "Start Time",
    "duration_hours": "Duration Hours",
    "passengers": "Passengers",
    "gross": "Gross",
    "updated_at": "Updated At",
    "captain": "Captain",
    "renter_email": "Renter Email",
    "renter_phone": "Renter Phone",
}
REQUIRED_COLUMNS: Final = frozenset(
    {"Booking ID", "Status", "Boat", "Renter Name", "Trip Date", "Start Time", "Duration Hours", "Passengers", "Gross"}
)

_PUNCTUATION_AND_SPACE = re.compile(r"[\W_]+")


@lru_cache(maxsize=1024)
def column_key(header: str) -> str:
    """A header reduced to what identifies its column: ``Booking ID``, ``booking_id``, ``BOOKING-ID`` -> ``bookingid``.

    Case-insensitive; spaces, underscores, punctuation and a byte-order mark are ignored.
    """
    return _PUNCTUATION_AND_SPACE.sub("", header.replace("\ufeff", "")).casefold()


# Normalised header -> parse field (a key of COLUMNS). Unknown headers map to nothing and are ignored.
FIELD_BY_COLUMN_KEY: Final[Mapping[str, str]] = {column_key(column): name for name, column in COLUMNS.items()}

_QUOTE_LIMIT = 60
_ID_LIMIT = 64
_NUMBER_TEXT_LIMIT = 40
_NAME_LIMIT, _EMAIL_LIMIT, _PHONE_LIMIT = 200, 254, 64
_TEXT_LIMITS: Final[Mapping[str, int]] = {
    "boat": _NAME_LIMIT,
    "renter_name": _NAME_LIMIT,
    "captain": _NAME_LIMIT,
    "renter_email": _EMAIL_LIMIT,
    "renter_phone": _PHONE_LIMIT,
}

_STATUS_BY_KEY: Final[Mapping[str, str]] = {
    "approved": "approved",
    "confirmed": "confirmed",
    "inprogress": "in progress",
    "completed": "completed",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "inquiry": "inquiry",
    "preapproved": "pre-approved",
    "paymentheld": "payment held",
    "expired": "expired",
}
_STATUS_SEPARATORS = re.compile(r"[\s_\-]+")
_STATUS_LIST = "approved, confirmed, in progress, completed, cancelled, inquiry, pre-approved, payment held, expired"

# [0-9] and not \d: Python's \d (and Decimal) accept Arabic-Indic and other digits that no export means.
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_US_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_CLOCK_24H = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?")
_CLOCK_12H = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?\s*([ap])\.?\s*m\.?", re.IGNORECASE)
_HOURS = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+")
_WHOLE = re.compile(r"([0-9]+)(?:\.0+)?")
_THOUSANDS = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")

_FIRST_YEAR, _LAST_YEAR = 2000, 2099
_MAX_HOURS = Decimal(24)
_MAX_PASSENGERS = 150
_GROSS_LIMIT = Decimal(1_000_000_000)
_TIME_MESSAGE = "must be HH:MM (24 h) or h:mm AM/PM"
_HOURS_MESSAGE = "must be a number of hours greater than 0 and at most 24"
_PASSENGERS_MESSAGE = f"must be a whole number from 1 to {_MAX_PASSENGERS}"
_GROSS_MESSAGE = "must be an amount in USD, zero or more, such as 840.75 or $1,234.50"


def parse_booking(raw: Mapping[str, object], tz: ZoneInfo) -> Booking:
    """One export row (or a manual run's ``booking`` conf) as a Booking, by CONTRACT.md section 3.

    ``raw`` maps header names in any style to strings (CSV) or JSON scalars; unknown keys are ignored.
    Start Time is local time in ``tz``: a time inside the spring-forward gap raises BookingError on Start Time,
    and a time in the repeated fall-back hour is taken as its first occurrence (``fold=0``, still daylight time).
    Raises BookingError naming one column: a missing or empty required column first, then a bad value.
    """
    # Issue 9 benchmarks intake against plain CSV parsing (target: at most 3x). Hence one layout per file, a
    # whole-row check for the common case (every cell printable text without double spaces), and every
    # conversion cached by its text.
    keys = _layout(tuple(raw)) or _resolved_keys(raw)
    values: list[Any] = list(map(raw.get, keys, _DEFAULTS))
    try:
        joined = "|".join(values)
    except TypeError:  # a JSON number or null, or a required column missing
        joined = "\n"
    cells: list[Any]
    if "  " not in joined and joined.isprintable():
        booking_id, *cells = map(str.strip, values)
    else:
        booking_id = _booking_id(values[0])
        cells = [_cell(name, value) for name, value in zip(_FIELDS[1:], values[1:], strict=True)]
    (status, boat, renter_name, trip_date, start_time, duration, passengers, gross, updated,
     captain, renter_email, renter_phone) = cells  # fmt: skip
    if not booking_id:
        raise BookingError("Booking ID", "must not be empty")
    if len(booking_id) > _ID_LIMIT:
        raise BookingError("Booking ID", f"{_quote(booking_id)} is longer than {_ID_LIMIT} characters")
    if not (status and boat and renter_name and trip_date and start_time and duration and passengers and gross):
        _refuse_empty(cells)
    status = _status(status)
    day = _trip_date(trip_date)
    start = _local_start(day, _clock(start_time), tz)
    if start is None:
        raise BookingError(
            "Start Time",
            f"{_quote(start_time)} does not exist on {day.isoformat()} in {tz.key} (the clocks skip that hour)",
        )
    duration_hours = _hours(duration)
    party_size = _passengers(passengers)
    gross_revenue = _gross(gross)
    updated_at = _updated_at(updated, tz) if updated else None
    if (
        len(boat) > _NAME_LIMIT
        or len(renter_name) > _NAME_LIMIT
        or len(captain) > _NAME_LIMIT
        or len(renter_email) > _EMAIL_LIMIT
        or len(renter_phone) > _PHONE_LIMIT
    ):
        _refuse_long(boat=boat, renter_name=renter_name, captain=captain, renter_email=renter_email,
                     renter_phone=renter_phone)  # fmt: skip
    # A frozen dataclass's __init__ pays one object.__setattr__ per field, a third of a row's parse time:
    # fill the instance dict directly. Booking has no __post_init__ and no slots, so this is the same object.
    booking = object.__new__(Booking)
    booking.__dict__.update(
        booking_id=booking_id,
        status=status,
        boat=boat,
        renter_name=renter_name,
        trip_date=day,
        start=start,
        duration_hours=duration_hours,
        passengers=party_size,
        gross=gross_revenue,
        captain=captain,
        renter_email=renter_email,
        renter_phone=renter_phone,
        updated_at=updated_at,
    )
    return booking


_FIELDS: Final = tuple(COLUMNS)
_NUMBER_FIELDS: Final = frozenset({"duration_hours", "passengers", "gross"})
_MISSING: Final = object()  # a column the row does not have at all (as opposed to an empty cell)
# What a row without the column holds: an optional column missing is the same as an empty one.
_DEFAULTS: Final = tuple(_MISSING if COLUMNS[name] in REQUIRED_COLUMNS else "" for name in _FIELDS)


@lru_cache(maxsize=256)
def _layout(keys: tuple[object, ...]) -> tuple[Any, ...] | None:
    """The row key holding each field (``_MISSING`` for none), or None when one field has several columns.

    Every row of one file has the same keys, so this runs once a file.
    """
    found = _columns_by_field(keys)
    if any(len(columns) > 1 for columns in found.values()):
        return None
    return tuple(found[name][0] if name in found else _MISSING for name in _FIELDS)


def _columns_by_field(keys: Iterable[object]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key in keys:
        if isinstance(key, str) and (name := FIELD_BY_COLUMN_KEY.get(column_key(key))):
            found.setdefault(name, []).append(key)
    return found


def _resolved_keys(raw: Mapping[str, object]) -> tuple[Any, ...]:
    """Keys for a row where two columns name one field (``Gross`` and ``gross``): they must agree."""
    found = _columns_by_field(raw)
    keys: list[object] = []
    for name in _FIELDS:
        columns = found.get(name, [])
        filled = [key for key in columns if not _is_blank(raw[key])]
        for key in filled[1:]:
            if _comparable(raw[key]) != _comparable(raw[filled[0]]):
                shown = ", ".join(repr(column) for column in columns)
                raise BookingError(
                    COLUMNS[name], f"columns {shown} disagree: {_quote(raw[filled[0]])} and {_quote(raw[key])}"
                )
        keys.append(filled[0] if filled else columns[0] if columns else _MISSING)
    return tuple(keys)


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _comparable(value: object) -> object:
    """What two columns of one field are compared by: their text, so ``840.75`` and ``"840.75"`` agree."""
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, int | Decimal | float) and not isinstance(value, bool):
        return _number_as_text(value)
    return value


def _refuse_empty(cells: list[Any]) -> None:
    for name, cell in zip(_FIELDS[1:], cells, strict=True):
        if COLUMNS[name] in REQUIRED_COLUMNS and not cell:
            raise BookingError(COLUMNS[name], "column is missing" if cell is None else "must not be empty")


def _refuse_long(**texts: str) -> None:
    for name, text in texts.items():
        if len(text) > _TEXT_LIMITS[name]:
            raise BookingError(COLUMNS[name], f"{_quote(text)} is longer than {_TEXT_LIMITS[name]} characters")


def _cell(name: str, value: object) -> str | None:
    """A cell as clean text; None when the row has no such column.

    Stripped, control characters dropped, runs of whitespace made one space; a JSON number becomes its text.
    """
    if isinstance(value, str):
        if value.isprintable():
            return " ".join(value.split())
        # Surrogates come from JSON "\ud800" escapes; they cannot be encoded as UTF-8 later, so they go too.
        kept = "".join(ch for ch in value if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cs"))
        return " ".join(kept.split())
    if value is _MISSING:
        return None
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        kind = "a number" if name in _NUMBER_FIELDS else "text"
        raise BookingError(COLUMNS[name], f"must be {kind}, not {_quote(value)}")
    return _number_as_text(value)


def _booking_id(value: object) -> str:
    """The Booking ID cell stripped; the caller checks it is not empty and not too long."""
    if isinstance(value, str):
        text = value.strip()
        # The id goes into outside ids (boatsetter:<id>) and log lines: no invisible or line-breaking characters.
        if not text.isprintable() and any(unicodedata.category(ch)[0] in "CZ" and ch != " " for ch in text):
            raise BookingError(
                "Booking ID", f"{_quote(text)} must not hold control characters, line breaks or odd spaces"
            )
        return text
    if value is _MISSING:
        raise BookingError("Booking ID", "column is missing")
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise BookingError("Booking ID", f"must be text, not {_quote(value)}")


def _number_as_text(value: int | Decimal | float) -> str:
    """A JSON number as the text an export would hold: ``6``, ``840.75``; never an exponent."""
    number = value if isinstance(value, Decimal) else Decimal(repr(value) if isinstance(value, float) else value)
    exponent = number.as_tuple().exponent
    if not isinstance(exponent, int) or not -30 <= exponent <= 30:
        return str(value)  # NaN, Infinity, 1E+999: refused by every number rule, and quoted as it came
    if number.is_zero():
        number = number.copy_abs()
    return format(number, "f")


@lru_cache(maxsize=64)
def _status(text: str) -> str:
    status = _STATUS_BY_KEY.get(_STATUS_SEPARATORS.sub("", text).casefold())
    if status is None:
        raise BookingError("Status", f"{_quote(text)} is not a Boatsetter status ({_STATUS_LIST})")
    return status


@lru_cache(maxsize=4096)
def _trip_date(text: str) -> date:
    if match := _ISO_DATE.fullmatch(text):
        year, month, day = int(match[1]), int(match[2]), int(match[3])
    elif match := _US_DATE.fullmatch(text):
        year, month, day = int(match[3]), int(match[1]), int(match[2])
    else:
        raise BookingError("Trip Date", f"{_quote(text)} must be YYYY-MM-DD or MM/DD/YYYY")
    try:
        trip_date = date(year, month, day)
    except ValueError:
        raise BookingError("Trip Date", f"{_quote(text)} is not a real date") from None
    if not _FIRST_YEAR <= year <= _LAST_YEAR:
        raise BookingError("Trip Date", f"{_quote(text)} is outside the years {_FIRST_YEAR} to {_LAST_YEAR}")
    return trip_date


@lru_cache(maxsize=1024)
def _clock(text: str) -> time:
    if match := _CLOCK_24H.fullmatch(text):
        hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
        if hour > 23:
            raise BookingError("Start Time", f"{_quote(text)} {_TIME_MESSAGE}")
    elif match := _CLOCK_12H.fullmatch(text):
        hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
        if not 1 <= hour <= 12:
            raise BookingError("Start Time", f"{_quote(text)} {_TIME_MESSAGE}")
        # "12:00 AM" is midnight and "12:30 PM" half past noon.
        hour = hour % 12 + (12 if match[4].lower() == "p" else 0)
    else:
        raise BookingError("Start Time", f"{_quote(text)} {_TIME_MESSAGE}")
    if minute > 59 or second > 59:
        raise BookingError("Start Time", f"{_quote(text)} {_TIME_MESSAGE}")
    return time(hour, minute, second)


def _local_start(trip_date: date, clock: time, tz: ZoneInfo) -> datetime | None:
    """The aware start, or None when that wall-clock time does not exist in ``tz`` (the spring-forward gap)."""
    start = datetime.combine(trip_date, clock, tzinfo=tz)  # fold=0: in the fall-back hour, the first occurrence
    if _changes_clocks(trip_date, tz) and start.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != (
        start.replace(tzinfo=None)
    ):
        return None
    return start


@lru_cache(maxsize=4096)
def _changes_clocks(day: date, tz: ZoneInfo) -> bool:
    """Whether ``tz`` changes its UTC offset during ``day`` (only then can a wall-clock time be missing)."""
    midnight = datetime.combine(day, time(), tzinfo=tz)
    return midnight.utcoffset() != (midnight + timedelta(days=1)).utcoffset()


@lru_cache(maxsize=1024)
def _hours(text: str) -> Decimal:
    if len(text) > _NUMBER_TEXT_LIMIT or not _HOURS.fullmatch(text):
        raise BookingError("Duration Hours", f"{_quote(text)} {_HOURS_MESSAGE}")
    hours = Decimal(text)
    if not 0 < hours <= _MAX_HOURS:
        raise BookingError("Duration Hours", f"{_quote(text)} {_HOURS_MESSAGE}")
    return hours


@lru_cache(maxsize=1024)
def _passengers(text: str) -> int:
    match = _WHOLE.fullmatch(text) if len(text) <= _NUMBER_TEXT_LIMIT else None
    if match is None or not 1 <= int(match[1]) <= _MAX_PASSENGERS:
        raise BookingError("Passengers", f"{_quote(text)} {_PASSENGERS_MESSAGE}")
    return int(match[1])


def _gross(text: str) -> Decimal:  # not cached: most amounts differ, and a cache miss costs more than this
    amount = text[1:].lstrip() if text.startswith("$") else text
    plain = amount.replace(",", "")
    # isascii first: str.isdigit also takes Arabic-Indic digits and superscripts.
    if not (
        len(text) <= _NUMBER_TEXT_LIMIT
        and plain.isascii()
        and plain.replace(".", "", 1).isdigit()
        and ("," not in amount or _THOUSANDS.fullmatch(amount))
    ):
        raise BookingError("Gross", f"{_quote(text)} {_GROSS_MESSAGE}")
    gross = Decimal(plain)
    if gross >= _GROSS_LIMIT:
        raise BookingError("Gross", f"{_quote(text)} must be less than $1,000,000,000")
    return gross


def _updated_at(text: str, tz: ZoneInfo) -> datetime:  # not cached: nearly every row has its own
    try:
        stamp = datetime.fromisoformat(text)
        if stamp.tzinfo is UTC:
            return stamp
        return (stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=tz)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise BookingError("Updated At", f"{_quote(text)} must be an ISO 8601 timestamp") from None


def _quote(value: object) -> str:
    """A value for an error message: repr-quoted (so no raw line breaks or escapes reach a log), cut to ~60."""
    if isinstance(value, str):
        return repr(value if len(value) <= _QUOTE_LIMIT else value[: _QUOTE_LIMIT - 3] + "...")
    if value is None or isinstance(value, bool | int | Decimal | float):
        shown = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        return shown if len(shown) <= _QUOTE_LIMIT else shown[: _QUOTE_LIMIT - 3] + "..."
    return f"a JSON {'object' if isinstance(value, Mapping) else 'array' if isinstance(value, list) else 'value'}"
