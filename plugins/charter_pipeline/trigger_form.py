"""The manual trigger's form: what the Airflow UI shows under "Trigger DAG", and how a run reads it back.

Two ways to hand the pipeline one booking (CONTRACT.md sections 1 and 9), one validator for both:

- the form: one param per field (``booking_id``, ``status``, ...), each a string with a pattern (or a choice, or
  a date) and help, in the section "Booking to process now". Airflow checks these schemas when the run is
  triggered (the UI, REST and ``dags test -c``), so a passenger count of 0 is refused before any run exists, with
  the param's name, and what was typed is never changed (no number fields: the UI clamps those);
- conf ``{"booking": {...}}``: the whole booking as one JSON object, as the contract and REST callers send it. Its
  schema is deliberately loose (any object): a strict one would turn a bad field into a bare JSON-schema error
  about ``booking``. The first task refuses it instead, with a line naming the field.

Either way ``manual_booking`` hands the same mapping to ``booking.parse_booking``, the one validator, before any
outside call. A form left empty (every field null) and no ``booking`` means a poll, like a scheduled run.

The form's limits are those of ``parse_booking`` (booking.py): they never refuse what a Boatsetter export may hold,
except that the form's date is a date picker (YYYY-MM-DD) and its status a choice of the statuses' usual spelling.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from charter_pipeline.booking import COLUMNS, BookingError

SECTION: Final = "Booking to process now"
JSON_SECTION: Final = "The same booking as JSON (REST and CLI)"

# The form's choices for Status, in the operator's words. None is the empty choice: the form left blank.
STATUS_CHOICES: Final[Mapping[str | None, str]] = {
    None: "(leave empty to poll the exports)",
    "approved": "approved: publish it",
    "confirmed": "confirmed: publish it",
    "in progress": "in progress (as approved)",
    "completed": "completed (as approved)",
    "cancelled": "cancelled: cancel what was published",
    "inquiry": "inquiry: record only",
    "pre-approved": "pre-approved: record only",
    "payment held": "payment held: record only",
    "expired": "expired: record only",
}

# What a typed value may look like: the same rules as booking.py's parser (tests/unit/test_trigger_form.py holds
# them to it), said as patterns on string fields. Never minimum/maximum on a number field: Airflow's form clamps a
# number to those on blur (-50 became 0, 200 became 150) and so changes what a person typed (issue 22). Patterns
# are checked by Airflow when the run is triggered (Param.resolve, jsonschema): a bad value is refused, naming the
# param, before any run exists. ``\s`` at either end: the parser strips a cell, so "  14:00 " is 14:00 there too.
_CLOCK_PATTERN = (
    r"^\s*(([01]?[0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?"
    r"|(0?[1-9]|1[0-2]):[0-5][0-9](:[0-5][0-9])?\s*[AaPp]\.?\s*[Mm]\.?)\s*$"
)
# More than 0 and at most 24: 1 to 23 with any decimals, 24 with zero decimals, or 0.x with a digit that is not 0.
_HOURS_PATTERN = r"^\s*(0*([1-9]|1[0-9]|2[0-3])(\.[0-9]+)?|0*24(\.0+)?|0*\.[0-9]*[1-9][0-9]*)\s*$"
# A whole number from 1 to 150 (6.0 is six, as a spreadsheet writes it).
_PASSENGERS_PATTERN = r"^\s*0*([1-9]|[1-9][0-9]|1[0-4][0-9]|150)(\.0+)?\s*$"
# USD, zero or more and below 1,000,000,000: 840.75, $840.75, $1,234.50. No minus sign can match.
_GROSS_PATTERN = r"^\s*(\$\s*)?(0*[0-9]{1,9}(\.[0-9]*)?|0*\.[0-9]+|[0-9]{1,3}(,[0-9]{3}){1,2}(\.[0-9]*)?)\s*$"
_NUMBER_LENGTH = 40  # booking.py's longest number text


def _text(title: str, description: str, max_length: int, **schema: Any) -> dict[str, Any]:
    return {
        "type": ["null", "string"],
        "title": title,
        "description": description,
        "minLength": 1,
        "maxLength": max_length,
        "section": SECTION,
        **schema,
    }


# Param name -> JSON schema (plus the UI's ``title``, ``section``, ``values_display``). Names are the snake_case
# export columns, so parse_booking reads the form exactly as it reads a conf booking or an export row.
FORM_FIELDS: Final[Mapping[str, Mapping[str, Any]]] = {
    "booking_id": _text("Booking ID", "Boatsetter's booking id, e.g. BS-480117. Required.", 64),
    "status": {
        "type": ["null", "string"],
        "title": "Status",
        "description": "The booking's status on Boatsetter. Required.",
        "enum": list(STATUS_CHOICES),
        "values_display": {"null" if key is None else key: label for key, label in STATUS_CHOICES.items()},
        "section": SECTION,
    },
    "boat": _text("Boat", "Boat name as on Boatsetter, e.g. Sea Breeze (picks the crew roster). Required.", 200),
    "renter_name": _text("Renter name", "Guest's full name. The guest page shows only the first name. Required.", 200),
    "trip_date": {
        "type": ["null", "string"],
        "format": "date",
        "title": "Trip date",
        "description": "Day of the charter. Required.",
        "section": SECTION,
    },
    "start_time": _text(
        "Start time",
        "Departure, local time of the pipeline's timezone: HH:MM (24 h) or h:mm AM/PM, e.g. 14:00. Required.",
        16,
        pattern=_CLOCK_PATTERN,
        examples=["09:00", "10:00", "12:00", "14:00", "17:00", "18:30"],
    ),
    "duration_hours": _text(
        "Duration (hours)",
        "Charter length in hours, more than 0 and at most 24, e.g. 3 or 2.5. Required.",
        _NUMBER_LENGTH,
        pattern=_HOURS_PATTERN,
    ),
    "passengers": _text(
        "Passengers", "Party size, a whole number from 1 to 150. Required.", _NUMBER_LENGTH, pattern=_PASSENGERS_PATTERN
    ),
    "gross": _text(
        "Gross (USD)",
        "Booking revenue to the operator in USD, zero or more, e.g. 840.75 or $1,234.50. Required.",
        _NUMBER_LENGTH,
        pattern=_GROSS_PATTERN,
    ),
    "captain": _text(
        "Captain", "Only when the renter booked a captain: that captain sails. Empty: the roster's captain.", 200
    ),
    "renter_email": _text("Renter e-mail", "Optional. Internal only: never on the guest page or sent to SCC.", 254),
    "renter_phone": _text("Renter phone", "Optional. Internal only: never on the guest page or sent to SCC.", 64),
}

BOOKING_PARAM_SCHEMA: Final[Mapping[str, Any]] = {
    "type": ["null", "object"],
    "title": "Booking (JSON)",
    "description": (
        "Or the whole booking as one JSON object, fields as in the form (snake_case, plus updated_at). "
        "Leave empty when using the fields above."
    ),
    "section": JSON_SECTION,
}

TRIGGER_PARAMS: Final[Mapping[str, Mapping[str, Any]]] = {**FORM_FIELDS, "booking": BOOKING_PARAM_SCHEMA}
"""Every param of the DAG, in the order the form shows them; each defaults to None."""


def form_title(column: str) -> str:
    """The form's title of the field that holds ``column`` (an export column, as BookingError names it), so a
    refusal of a booking typed into the form uses the form's words; the column itself when the form has none."""
    for name, schema in FORM_FIELDS.items():
        if COLUMNS[name] == column:
            return str(schema["title"])
    return column


def manual_booking(params: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The booking a manual run was given (conf ``booking``, or the form's fields), or None to poll.

    Raises BookingError when both are given, or when ``booking`` is not a JSON object: ``parse_booking`` then
    checks the rest, naming the field.
    """
    booking = params.get("booking")
    filled = {name: params[name] for name in FORM_FIELDS if not _blank(params.get(name))}
    if booking is not None and filled:
        raise BookingError(
            "booking",
            "give the booking either as conf 'booking' or in the form's fields, not both "
            f"(form fields given: {', '.join(filled)})",
        )
    if booking is not None:
        if not isinstance(booking, Mapping):
            raise BookingError("booking", "must be a JSON object")
        return booking
    # A field left empty on a filled form is an empty field ("Boat: must not be empty"), not a missing column.
    return {name: filled.get(name, "") for name in FORM_FIELDS} if filled else None


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
