"""parse_booking, column_key and the Booking record, driven by the nasty-row corpus in corpus/rows.csv and rows.json.

Each corpus row carries its expectation in an extra column (``Expect``/``expect``, unknown to the parser):
``ok; field=value; ...`` compares fields of ``Booking.to_dict()`` (plus ``end``), anything else is the exact
error message.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter_pipeline.booking import (
    COLUMNS,
    FIELD_BY_COLUMN_KEY,
    REQUIRED_COLUMNS,
    Booking,
    BookingError,
    column_key,
    fingerprint,
    parse_booking,
)

CORPUS = Path(__file__).parent / "corpus"
SAN_DIEGO = ZoneInfo("America/Los_Angeles")

VALID_ROW = {
    "Booking ID": "BS-480117",
    "Status": "approved",
    "Boat": "Sea Breeze",
    "Renter Name": "Jane Doe",
    "Renter Email": "jane.doe@example.com",
    "Renter Phone": "+1 619 555 0142",
    "Trip Date": "2026-07-04",
    "Start Time": "10:00",
    "Duration Hours": "3",
    "Passengers": "6",
    "Captain": "",
    "Gross": "840.75",
    "Updated At": "2026-06-01T17:04:12Z",
}


def _csv_corpus() -> list[dict[str, str]]:
    with (CORPUS / "rows.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _json_corpus() -> list[dict[str, Any]]:
    # As exports.py reads JSON: numbers and NaN/Infinity as Decimal.
    text = (CORPUS / "rows.json").read_text(encoding="utf-8")
    rows: list[dict[str, Any]] = json.loads(text, parse_float=Decimal, parse_constant=Decimal)
    return rows


def _check(raw: dict[str, Any], expect: str) -> None:
    if not expect.startswith("ok"):
        with pytest.raises(BookingError) as caught:
            parse_booking(raw, SAN_DIEGO)
        assert str(caught.value) == expect
        assert caught.value.field == expect.split(":", 1)[0]
        assert caught.value.field in COLUMNS.values()
        return
    booking = parse_booking(raw, SAN_DIEGO)
    actual = {**booking.to_dict(), "end": booking.end.isoformat()}
    for check in expect.split("; ")[1:]:
        name, _, wanted = check.partition("=")
        assert str(actual[name]) == wanted, name


@pytest.mark.parametrize("raw", _csv_corpus(), ids=lambda raw: f"{raw['Booking ID'][:12]!r}:{raw['Expect'][:40]}")
def test_csv_corpus_row(raw: dict[str, str]) -> None:
    expect = raw.pop("Expect")
    _check(raw, expect)


@pytest.mark.parametrize("raw", _json_corpus(), ids=lambda raw: f"{raw.get('booking_id')!r}:{raw['expect'][:40]}")
def test_json_corpus_row(raw: dict[str, Any]) -> None:
    expect = raw.pop("expect")
    _check(raw, expect)


def test_corpus_covers_every_column_with_good_and_bad_values() -> None:
    expectations = [row["Expect"] for row in _csv_corpus()] + [row["expect"] for row in _json_corpus()]
    refused = {expect.split(":", 1)[0] for expect in expectations if not expect.startswith("ok")}
    assert REQUIRED_COLUMNS | {"Updated At"} <= refused
    assert sum(expect.startswith("ok") for expect in expectations) > 50


def test_valid_row_gives_the_whole_booking() -> None:
    booking = parse_booking(VALID_ROW, SAN_DIEGO)
    assert booking == Booking(
        booking_id="BS-480117",
        status="approved",
        boat="Sea Breeze",
        renter_name="Jane Doe",
        trip_date=date(2026, 7, 4),
        start=datetime(2026, 7, 4, 10, 0, tzinfo=SAN_DIEGO),
        duration_hours=Decimal("3"),
        passengers=6,
        gross=Decimal("840.75"),
        captain="",
        renter_email="jane.doe@example.com",
        renter_phone="+1 619 555 0142",
        updated_at=datetime(2026, 6, 1, 17, 4, 12, tzinfo=UTC),
    )


def test_parsed_booking_behaves_like_a_constructed_one() -> None:
    parsed = parse_booking(VALID_ROW, SAN_DIEGO)
    built = Booking(**{field.name: getattr(parsed, field.name) for field in dataclasses.fields(Booking)})
    assert hash(parsed) == hash(built)
    assert {parsed, built} == {built}
    assert repr(parsed) == repr(built)
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.status = "cancelled"  # type: ignore[misc]
    assert dataclasses.replace(parsed, passengers=7).passengers == 7


def test_start_time_is_local_to_the_given_zone() -> None:
    # The conversions are cached; the cache must tell zones apart.
    in_san_diego = parse_booking(VALID_ROW, SAN_DIEGO)
    in_london = parse_booking(VALID_ROW, ZoneInfo("Europe/London"))
    assert in_san_diego.start.utcoffset() == timedelta(hours=-7)
    assert in_london.start.utcoffset() == timedelta(hours=1)
    assert in_san_diego.start - in_london.start == timedelta(hours=8)


def test_naive_updated_at_is_local_time_of_the_zone() -> None:
    row = {**VALID_ROW, "Updated At": "2026-01-15T09:00:00"}
    assert parse_booking(row, SAN_DIEGO).updated_at == datetime(2026, 1, 15, 17, 0, tzinfo=UTC)
    assert parse_booking(row, ZoneInfo("UTC")).updated_at == datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def test_fall_back_hour_takes_the_first_occurrence() -> None:
    booking = parse_booking({**VALID_ROW, "Trip Date": "2026-11-01", "Start Time": "1:30 AM"}, SAN_DIEGO)
    assert booking.start.fold == 0
    assert booking.start.utcoffset() == timedelta(hours=-7)
    assert booking.start.astimezone(UTC) == datetime(2026, 11, 1, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("trip_date", "start_time", "hours", "elapsed_end_utc"),
    [
        # 2026-11-01: 01:00-02:00 happens twice. A 3 h charter from 00:30 PDT ends 02:30 PST, 3 real hours later.
        ("2026-11-01", "00:30", "3", datetime(2026, 11, 1, 10, 30, tzinfo=UTC)),
        # 2026-03-08: 02:00-03:00 never happens. A 3 h charter from 00:30 PST ends 04:30 PDT.
        ("2026-03-08", "00:30", "3", datetime(2026, 3, 8, 11, 30, tzinfo=UTC)),
        ("2026-07-04", "22:00", "4", datetime(2026, 7, 5, 9, 0, tzinfo=UTC)),
    ],
)
def test_end_is_start_plus_elapsed_hours(
    trip_date: str, start_time: str, hours: str, elapsed_end_utc: datetime
) -> None:
    booking = parse_booking(
        {**VALID_ROW, "Trip Date": trip_date, "Start Time": start_time, "Duration Hours": hours}, SAN_DIEGO
    )
    assert booking.end == elapsed_end_utc
    # Subtracting two datetimes of one tzinfo compares wall clocks; the elapsed time needs UTC.
    assert booking.end.astimezone(UTC) - booking.start.astimezone(UTC) == timedelta(hours=int(hours))
    assert booking.end.tzinfo is SAN_DIEGO


def test_end_is_exact_for_long_decimal_durations() -> None:
    booking = parse_booking({**VALID_ROW, "Duration Hours": "2.3333333333333335"}, SAN_DIEGO)
    assert booking.duration_hours == Decimal("2.3333333333333335")
    assert booking.end == booking.start + timedelta(hours=2, minutes=20)


def test_error_messages_quote_the_value_safely() -> None:
    hostile = "\x1b[31m" + "x" * 100 + "\r\nINFO forged log line"
    with pytest.raises(BookingError) as caught:
        parse_booking({**VALID_ROW, "Passengers": hostile}, SAN_DIEGO)
    message = str(caught.value)
    # Control characters are dropped before the value is judged; the quarantined raw row keeps them.
    assert message.startswith("Passengers: '[31mxxx")
    assert message.isprintable()
    assert "forged" not in message
    assert message.endswith("...' must be a whole number from 1 to 150")
    with pytest.raises(BookingError) as caught:
        parse_booking({**VALID_ROW, "Booking ID": "BS-1\x1b[2K\rOK"}, SAN_DIEGO)
    assert str(caught.value) == (
        "Booking ID: 'BS-1\\x1b[2K\\rOK' must not hold control characters, line breaks or odd spaces"
    )


def test_manual_conf_uses_snake_case_fields() -> None:
    conf = {
        "booking_id": "BS-MANUAL-1",
        "status": "approved",
        "boat": "Harbor Light",
        "renter_name": "Priya Raman",
        "trip_date": "2026-08-01",
        "start_time": "17:30",
        "duration_hours": "2.5",
        "passengers": 4,
        "gross": "612.00",
    }
    booking = parse_booking(conf, SAN_DIEGO)
    assert (booking.booking_id, booking.passengers, booking.gross, booking.updated_at) == (
        "BS-MANUAL-1",
        4,
        Decimal("612.00"),
        None,
    )
    with pytest.raises(BookingError, match=r"^Passengers: column is missing$"):
        parse_booking({key: value for key, value in conf.items() if key != "passengers"}, SAN_DIEGO)


def test_unknown_columns_are_ignored() -> None:
    booking = parse_booking({**VALID_ROW, "Notes": "\x00 anything", "Booking #": "other", "": "x"}, SAN_DIEGO)
    assert booking == parse_booking(VALID_ROW, SAN_DIEGO)


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Booking ID", "bookingid"),
        ("booking_id", "bookingid"),
        ("BOOKING-ID", "bookingid"),
        ("\ufeffBooking ID", "bookingid"),
        (" Booking  Id ", "bookingid"),
        ("Booking.ID:", "bookingid"),
        ("Gross ($)", "gross"),
        ("Renter E-mail", "renteremail"),
        ("Trip Date", "tripdate"),
        ("Booking #", "booking"),
    ],
)
def test_column_key(header: str, key: str) -> None:
    assert column_key(header) == key


def test_every_column_and_its_snake_case_name_map_to_one_field() -> None:
    for name, column in COLUMNS.items():
        assert FIELD_BY_COLUMN_KEY[column_key(column)] == name
        assert FIELD_BY_COLUMN_KEY[column_key(name)] == name
    assert len(FIELD_BY_COLUMN_KEY) == len(COLUMNS) == 13


# ---- the Booking record -----------------------------------------------------------------------------------------


def test_to_dict_from_dict_round_trip_through_json() -> None:
    for row in (
        VALID_ROW,
        {**VALID_ROW, "Trip Date": "2026-11-01", "Start Time": "01:30", "Updated At": ""},
        {**VALID_ROW, "Captain": "Hank Morrow", "Gross": "$1,234.505", "Duration Hours": "2.25"},
    ):
        booking = parse_booking(row, SAN_DIEGO)
        again = Booking.from_dict(json.loads(json.dumps(booking.to_dict())))
        assert again == booking
        assert again.start.utcoffset() == booking.start.utcoffset()
        assert again.end == booking.end
        assert fingerprint(again) == fingerprint(booking)


def test_booking_names() -> None:
    booking = parse_booking({**VALID_ROW, "Renter Name": "  mary  ann   van der berg "}, SAN_DIEGO)
    assert booking.renter_name == "mary ann van der berg"
    assert (booking.first_name, booking.short_name, booking.label) == ("mary", "mary B.", "BS-480117 (mary)")


def _fingerprint_of(**changes: str) -> str:
    return fingerprint(parse_booking({**VALID_ROW, **changes}, SAN_DIEGO))


def test_fingerprint_ignores_what_changes_nothing() -> None:
    base = _fingerprint_of()
    assert _fingerprint_of(**{"Updated At": "2026-06-09T00:00:00Z"}) == base
    assert _fingerprint_of(**{"Updated At": ""}) == base
    for status in ("confirmed", "In Progress", "completed"):
        assert _fingerprint_of(Status=status) == base
    assert _fingerprint_of(Gross="$840.750") == base
    assert _fingerprint_of(**{"Duration Hours": "3.00"}) == base
    assert _fingerprint_of(**{"Trip Date": "07/04/2026", "Start Time": "10:00 AM"}) == base
    assert _fingerprint_of(Status="canceled") == _fingerprint_of(Status="Cancelled")


def test_fingerprint_sees_every_change_that_matters() -> None:
    base = _fingerprint_of()
    changes: list[dict[str, str]] = [
        {"Gross": "840.76"},
        {"Start Time": "10:30"},
        {"Trip Date": "2026-07-05"},
        {"Duration Hours": "3.5"},
        {"Passengers": "7"},
        {"Boat": "Marina Star"},
        {"Renter Name": "Jane Roe"},
        {"Captain": "Hank Morrow"},
        {"Status": "cancelled"},
        {"Status": "inquiry"},
    ]
    prints = {_fingerprint_of(**change) for change in changes}
    assert base not in prints
    assert len(prints) == len(changes)


def test_fingerprint_counts_gross_to_the_cent_rounding_half_up() -> None:
    assert _fingerprint_of(Gross="840.745") == _fingerprint_of(Gross="840.75")
    assert _fingerprint_of(Gross="840.744") == _fingerprint_of(Gross="840.74")
    assert _fingerprint_of(Gross="0.005") == _fingerprint_of(Gross="0.01")


def test_fingerprint_of_whole_tens_of_hours_has_no_exponent() -> None:
    # Decimal("20").normalize() is 2E+1; the fingerprint must still tell 20 h from 2 h.
    assert _fingerprint_of(**{"Duration Hours": "20"}) == _fingerprint_of(**{"Duration Hours": "20.0"})
    assert _fingerprint_of(**{"Duration Hours": "20"}) != _fingerprint_of(**{"Duration Hours": "2"})


# ---- properties --------------------------------------------------------------------------------------------------

_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=80),
)
_any_value = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
    st.sampled_from(["", " ", "\n", "12:00 AM", "2026-03-08", "02:30", "$1,234.50", "1e999", "-0", "NaN", "٣"]),
    _json_scalars,
    st.lists(_json_scalars, max_size=3),
    st.dictionaries(st.text(max_size=5), _json_scalars, max_size=3),
)


def _outcome(row: Mapping[str, object]) -> Booking | BookingError:
    try:
        return parse_booking(row, SAN_DIEGO)
    except BookingError as error:
        return error


@settings(max_examples=300, deadline=None)
@given(column=st.sampled_from(sorted(COLUMNS.values())), value=_any_value)
def test_any_value_in_any_column_is_a_booking_or_a_booking_error(column: str, value: object) -> None:
    outcome = _outcome({**VALID_ROW, column: value})
    if isinstance(outcome, BookingError):
        assert outcome.field == column
        assert str(outcome).isprintable()
        assert len(str(outcome)) < 400
    else:
        booking = outcome
        assert booking.booking_id
        assert booking.boat
        assert booking.renter_name
        assert 1 <= booking.passengers <= 150
        assert Decimal(0) < booking.duration_hours <= 24
        assert booking.gross >= 0
        assert booking.start.tzinfo is SAN_DIEGO
        json.dumps(booking.to_dict())


@settings(max_examples=100, deadline=None)
@given(row=st.fixed_dictionaries(dict.fromkeys(COLUMNS.values(), _any_value)))
def test_any_row_is_a_booking_or_a_booking_error(row: dict[str, object]) -> None:
    outcome = _outcome(row)
    assert isinstance(outcome, Booking) or outcome.field in COLUMNS.values()


def _variant(draw: st.DrawFn, name: str) -> str:
    separators = st.sampled_from(["", " ", "_", "-", ".", "  ", "/", "#", "(", ")", ":"])
    out = [draw(separators)]
    for char in name.replace(" ", ""):
        out.append(char.upper() if draw(st.booleans()) else char.lower())
        out.append(draw(separators))
    return ("\ufeff" if draw(st.booleans()) else "") + "".join(out)


@st.composite
def _header_variants(draw: st.DrawFn) -> dict[str, str]:
    return {column: _variant(draw, column) for column in COLUMNS.values()}


@settings(max_examples=100, deadline=None)
@given(headers=_header_variants())
def test_header_variants_map_to_the_same_fields(headers: dict[str, str]) -> None:
    for column, header in headers.items():
        assert FIELD_BY_COLUMN_KEY[column_key(header)] == FIELD_BY_COLUMN_KEY[column_key(column)]
    renamed = {headers[column]: value for column, value in VALID_ROW.items()}
    assert parse_booking(renamed, SAN_DIEGO) == parse_booking(VALID_ROW, SAN_DIEGO)
