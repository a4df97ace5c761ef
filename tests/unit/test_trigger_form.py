"""The trigger form's fields and the manual booking they make: one validator (parse_booking) for the form and conf."""

from __future__ import annotations

import random
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from jsonschema import FormatChecker, ValidationError, validate

from charter_pipeline.booking import COLUMNS, BookingError, parse_booking
from charter_pipeline.trigger_form import (
    FORM_FIELDS,
    SECTION,
    STATUS_CHOICES,
    TRIGGER_PARAMS,
    form_title,
    manual_booking,
)

TZ = ZoneInfo("America/Los_Angeles")
# What the Airflow form sends for a filled-in booking: every field as typed (text), the date picker's YYYY-MM-DD.
FILLED: dict[str, Any] = {
    "booking_id": "BS-777001", "status": "approved", "boat": "Sea Breeze", "renter_name": "Jane Doe",
    "trip_date": "2026-12-18", "start_time": "14:00", "duration_hours": "2.5", "passengers": "6", "gross": "840.75",
    "captain": None, "renter_email": None, "renter_phone": None,
}  # fmt: skip
EMPTY_FORM: dict[str, Any] = dict.fromkeys(TRIGGER_PARAMS)

# Per field: a value the form refuses. Each is refused by parse_booking too, naming the same column.
REFUSED = [
    ("booking_id", "B" * 65),
    ("booking_id", ""),
    ("status", "maybe"),
    ("boat", "B" * 201),
    ("renter_name", "R" * 201),
    ("trip_date", "2026-02-30"),
    ("start_time", "noon"),
    ("start_time", "25:99"),  # issue 22: accepted before
    ("start_time", "13:00 PM"),
    ("duration_hours", "0"),
    ("duration_hours", "24.5"),
    ("duration_hours", "30"),  # issue 22: clamped to 24 before
    ("passengers", "0"),  # issue 22: clamped to 1 before
    ("passengers", "151"),
    ("passengers", "200"),  # issue 22: clamped to 150 before
    ("passengers", "2.5"),
    ("gross", "-50"),  # issue 22: published as 0 before
    ("gross", "-0.01"),
    ("gross", "1000000000"),
    ("gross", "$1,000,000,000"),
    ("captain", "C" * 201),
    ("renter_email", "e" * 255),
    ("renter_phone", "5" * 65),
]


def schema_error(name: str, value: object) -> ValidationError | None:
    """Airflow's own check of one param (jsonschema with a FormatChecker, as Param.resolve does)."""
    schema = {k: v for k, v in TRIGGER_PARAMS[name].items() if k != "description"}
    try:
        validate(value, schema, format_checker=FormatChecker())
    except ValidationError as exc:
        return exc
    return None


def test_every_field_the_issue_names_is_in_one_section_with_a_title_and_help() -> None:
    assert list(FORM_FIELDS) == [
        "booking_id", "status", "boat", "renter_name", "trip_date", "start_time", "duration_hours", "passengers",
        "gross", "captain", "renter_email", "renter_phone",
    ]  # fmt: skip
    for name, schema in FORM_FIELDS.items():
        assert schema["section"] == SECTION
        assert schema["title"], name
        assert len(schema["description"]) > 10, name
        assert "null" in schema["type"], f"{name} must be optional, or an empty form could not poll"
        assert name in COLUMNS, f"{name} is not a column parse_booking reads"
    assert FORM_FIELDS["trip_date"]["format"] == "date"
    assert FORM_FIELDS["status"]["enum"] == list(STATUS_CHOICES)
    assert set(FORM_FIELDS["status"]["values_display"]) == {"null", *(s for s in STATUS_CHOICES if s)}
    for name, schema in FORM_FIELDS.items():
        # Airflow's form clamps a number field to its minimum/maximum on blur: a typed -50 became 0 (issue 22).
        assert schema["type"] == ["null", "string"], name
        assert not {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"} & set(schema), name
    assert TRIGGER_PARAMS["booking"]["type"] == ["null", "object"]


def test_a_filled_form_passes_the_schema_and_parse_booking() -> None:
    for name, value in FILLED.items():
        assert schema_error(name, value) is None, name
    booking = parse_booking(manual_booking({**EMPTY_FORM, **FILLED}) or {}, TZ)
    assert (booking.booking_id, booking.passengers, str(booking.gross), str(booking.duration_hours)) == (
        "BS-777001", 6, "840.75", "2.5"
    )  # fmt: skip
    assert booking.start.isoformat() == "2026-12-18T14:00:00-08:00"


@pytest.mark.parametrize("status", [s for s in STATUS_CHOICES if s])
def test_every_status_choice_is_a_status_parse_booking_knows(status: str) -> None:
    assert parse_booking({**FILLED, "status": status}, TZ).status in {status, "cancelled"}


@pytest.mark.parametrize(("name", "value"), REFUSED)
def test_each_field_is_refused_by_the_form_and_by_parse_booking_naming_it(name: str, value: object) -> None:
    error = schema_error(name, value)
    assert error is not None, f"the form lets {name}={value!r} through"
    with pytest.raises(BookingError) as refused:
        parse_booking({**FILLED, name: value}, TZ)
    assert refused.value.field == COLUMNS[name]


@pytest.mark.parametrize(
    ("name", "value"),
    [("passengers", "150"), ("passengers", "1"), ("passengers", "6.0"), ("duration_hours", "24"),
     ("duration_hours", "0.25"), ("duration_hours", ".5"), ("gross", "0"), ("gross", "999999999.99"),
     ("gross", "$1,234.50"), ("gross", "$ 840.75"), ("start_time", "9:30 AM"), ("start_time", "14:00:00"),
     ("start_time", "12:05 a.m."), ("start_time", " 23:59 "), ("booking_id", "B" * 64)],
)  # fmt: skip
def test_the_forms_limits_are_parse_bookings(name: str, value: object) -> None:
    assert schema_error(name, value) is None
    parse_booking({**FILLED, name: value}, TZ)


def test_an_empty_form_and_no_booking_polls() -> None:
    assert manual_booking(EMPTY_FORM) is None
    assert manual_booking({}) is None
    assert manual_booking({**EMPTY_FORM, "boat": "  ", "captain": ""}) is None


def test_conf_booking_is_taken_as_given_and_checked_by_parse_booking() -> None:
    conf = {"booking_id": "BS-1", "Passengers": "0"}
    assert manual_booking({**EMPTY_FORM, "booking": conf}) == conf
    assert manual_booking({"booking": conf}) == conf  # dags test -c / REST without the form's keys


def test_the_form_gives_only_its_filled_fields() -> None:
    given = manual_booking({**EMPTY_FORM, "booking_id": "BS-2", "passengers": "4"})
    assert given == {**dict.fromkeys(FORM_FIELDS, ""), "booking_id": "BS-2", "passengers": "4"}
    with pytest.raises(BookingError) as refused:
        parse_booking(given or {}, TZ)
    # The first required field left empty, named as the form names it.
    assert (form_title(refused.value.field), refused.value.message) == ("Status", "must not be empty")


def test_a_booking_both_in_conf_and_in_the_form_is_refused_naming_the_fields() -> None:
    with pytest.raises(BookingError) as refused:
        manual_booking({**EMPTY_FORM, "booking": dict(FILLED), "passengers": 3})
    assert refused.value.field == "booking"
    assert "passengers" in str(refused.value)


def test_a_booking_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(BookingError, match=r"^booking: must be a JSON object"):
        manual_booking({"booking": ["BS-1"]})


# Characters people type into these fields, and a few they should not; strings of up to 7 of them, seeded.
_TYPED = "0123456789.,$-+ :apmAPM"
_PATTERNED = [name for name, schema in FORM_FIELDS.items() if "pattern" in schema]


def _typed_values(count: int) -> list[str]:
    rng = random.Random(22)
    values = {"".join(rng.choice(_TYPED) for _ in range(rng.randint(1, 7))) for _ in range(count)}
    # Values near every limit, which random strings rarely hit.
    values |= {
        "0", "00", "0.0", ".0", "0.", ".", "1", "24", "24.0", "24.01", "23.99", "0.01", "149", "150", "150.0",
        "151", "1000", "999999999", "999999999.99", "1000000000", "$0", "$", "$.5", "1,234", "12,34", "1,234.",
        "1,234,567", "999,999,999.99", "1,000,000,000", "0:00", "00:00", "23:59", "24:00", "9:60", "12:00 AM",
        "12:00 pm", "0:30 AM", "00:30 AM", "1:00:59 PM", "1:00:60", "7:5", "07:05",
    }  # fmt: skip
    values |= {
        f"{hour}:{minute}{suffix}"
        for hour in ("0", "00", "1", "01", "9", "11", "12", "13", "19", "23", "24", "25")
        for minute in ("00", "05", "59", "60", "5", "99")
        for suffix in ("", ":00", ":60", " AM", "pm", " p.m.", "a.m", " XM", "  PM ")
    }
    return sorted(values)


@pytest.mark.parametrize("name", _PATTERNED)
def test_every_pattern_accepts_exactly_what_parse_booking_accepts(name: str) -> None:
    """One set of rules: a typed value the form lets through is one the pipeline takes, and the other way round."""
    disagreements = []
    for value in _typed_values(4000):
        form_accepts = schema_error(name, value) is None
        try:
            parse_booking({**FILLED, name: value}, TZ)
            pipeline_accepts = True
        except BookingError as refused:
            pipeline_accepts = False
            if refused.field != COLUMNS[name]:
                disagreements.append((value, "refused naming", refused.field))
        if form_accepts != pipeline_accepts:
            disagreements.append((value, form_accepts, pipeline_accepts))
    assert disagreements == []


def test_a_refusal_of_a_typed_booking_uses_the_forms_words() -> None:
    with pytest.raises(BookingError) as refused:
        parse_booking({**FILLED, "gross": "-50"}, TZ)
    assert form_title(refused.value.field) == "Gross (USD)"
    assert form_title("Duration Hours") == "Duration (hours)"
    assert form_title("Updated At") == "Updated At"  # not on the form: the column's own name
