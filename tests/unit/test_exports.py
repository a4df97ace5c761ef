"""exports.py: export files to rows (corpus/files/), rows to candidates and quarantine problems, newest snapshot."""

from __future__ import annotations

import csv
import gc
import io
import json
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from charter_pipeline.booking import KNOWN_STATUSES, Booking, parse_booking
from charter_pipeline.exports import (
    ELEMENT,
    EXTRA_CELLS,
    RECORD_TEXT,
    Candidate,
    ExportUnreadable,
    RawRow,
    RowProblem,
    SnapshotOrder,
    Source,
    is_export_name,
    newest_per_booking,
    order_key_from_json,
    order_key_to_json,
    parse_export,
    parse_rows,
    read_export,
    snapshot_order,
)

FILES = Path(__file__).parent / "corpus" / "files"
SAN_DIEGO = ZoneInfo("America/Los_Angeles")
MODIFIED = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
HEADER = (
    "Booking ID", "Status", "Boat", "Renter Name", "Renter Email", "Renter Phone", "Trip Date", "Start Time",
    "Duration Hours", "Passengers", "Captain", "Gross", "Updated At",
)  # fmt: skip


def _read(name: str) -> list[RawRow]:
    return read_export(name, (FILES / name).read_bytes())


def _parse(name: str) -> tuple[list[Candidate], list[RowProblem]]:
    return parse_export(name, (FILES / name).read_bytes(), SAN_DIEGO, last_modified=MODIFIED)


# ---- reading files -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("latin1.csv", "the file is not UTF-8: byte 0xeb on line 2 (Latin-1 or Windows-1252? save it as UTF-8)"),
        ("latin1.json", "the file is not UTF-8: byte 0xeb on line 1 (Latin-1 or Windows-1252? save it as UTF-8)"),
        ("utf16.csv", "the file is UTF-16 text; exports must be UTF-8 (save it as UTF-8)"),
        ("utf16_no_bom.csv", "the file holds NUL bytes: binary data or UTF-16 text, not a UTF-8 export"),
        ("binary.csv", "the file holds NUL bytes: binary data or UTF-16 text, not a UTF-8 export"),
        (
            "no_header.csv",
            (
                "no header row: the first line ('BS-1', 'approved', 'Sea Breeze', ...) names none of the "
                "booking columns (Booking ID, Status, Boat, ...)"
            ),
        ),
        ("duplicate_column.csv", "the header names one column twice: 'Booking ID' and 'booking_id'"),
        ("truncated.json", "not valid JSON: Expecting ',' delimiter at line 1 column 444 (the file looks truncated)"),
        ("not_bookings.json", 'a JSON export must be an array of bookings or {"bookings": [...]}'),
        ("bookings_not_a_list.json", 'a JSON export must be an array of bookings or {"bookings": [...]}'),
        ("scalar.json", 'a JSON export must be an array of bookings or {"bookings": [...]}'),
    ],
)
def test_unreadable_files(name: str, reason: str) -> None:
    with pytest.raises(ExportUnreadable) as caught:
        _read(name)
    assert caught.value.reason == reason
    assert str(caught.value) == reason


@pytest.mark.parametrize(
    "name",
    ["empty.csv", "whitespace_only.csv", "header_only.csv", "empty.json", "empty_array.json", "empty_wrapped.json"],
)
def test_files_without_bookings_have_no_rows(name: str) -> None:
    assert _read(name) == []


@pytest.mark.parametrize(
    ("name", "rows", "problems"),
    [
        ("bom_crlf_quoted.csv", [1, 2, 3], {}),
        ("header_variants.csv", [1], {}),
        ("blank_lines.csv", [1, 4, 6], {}),
        ("uneven_rows.csv", [1, 4], {
            2: "row has 15 cells but the header has 13 columns",
            3: "Gross: must not be empty",
        }),
        ("broken_quotes.csv", [1, 3], {
            2: "broken CSV quoting on line 3 (',' expected after '\"')",
            4: (
                "a quoted cell opened on line 5 never closes: the rest of the file is one cell (truncated file or "
                "stray quote)"
            ),
        }),
        ("array.json", [1, 2], {}),
        ("wrapped.json", [1, 2], {}),
        ("mixed_elements.json", [1, 7], {
            2: "element 2 is a string, not a booking object",
            3: "element 3 is a number, not a booking object",
            4: "element 4 is null, not a booking object",
            5: "element 5 is an array, not a booking object",
            6: "element 6 is a boolean, not a booking object",
        }),
    ],
)  # fmt: skip
def test_rows_and_problems_per_file(name: str, rows: list[int], problems: dict[int, str]) -> None:
    candidates, found = _parse(name)
    assert [candidate.source.row for candidate in candidates] == rows
    assert {problem.row: problem.reason for problem in found} == problems
    assert all(candidate.source[:3] == (name, MODIFIED, candidate.source.row) for candidate in candidates)
    # CSV rows carry the digest the poll uses to skip them next time; JSON rows do not.
    assert all(bool(candidate.source.row_digest) == name.endswith(".csv") for candidate in candidates)
    for problem in found:
        record = json.loads(json.dumps(problem.to_dict()))
        assert record == {"source": name, "row": problem.row, "reason": problem.reason, "raw": problem.raw}


def test_bom_crlf_and_rfc4180_quoting() -> None:
    candidates, _ = _parse("bom_crlf_quoted.csv")
    first, second, third = (candidate.booking for candidate in candidates)
    assert first.booking_id == "BS-1"  # the BOM is not part of the first header name
    assert first.renter_name == "Jane Doe"  # a CRLF inside quotes is part of the cell, then whitespace
    assert first.gross == Decimal("1234.50")
    assert second.renter_name == 'Liam "Skip" O\'Brien'
    assert second.boat == "Sea Breeze, the big one"
    assert third.renter_name == "Multi line name"
    assert third.start == datetime(2026, 7, 5, 14, 30, tzinfo=SAN_DIEGO)
    raw = _read("bom_crlf_quoted.csv")[0].values
    assert next(iter(raw)) == "Booking ID"
    assert raw["Renter Name"] == "Jane\r\nDoe"


def test_header_variants_and_unknown_columns() -> None:
    (candidate,), _ = _parse("header_variants.csv")
    assert candidate.booking == parse_booking(
        {
            "Booking ID": "BS-1", "Status": "approved", "Boat": "Sea Breeze", "Renter Name": "Jane Doe",
            "Trip Date": "2026-07-04", "Start Time": "10:00", "Duration Hours": "3", "Passengers": "6",
            "Gross": "$840.75", "Updated At": "2026-06-01T17:04:12Z", "Renter Email": "jane@example.com",
        },
        SAN_DIEGO,
    )  # fmt: skip


def test_repeated_unknown_columns_keep_every_cell() -> None:
    data = b"Booking ID,Notes,Notes,,\nBS-1,first,second,x,y\n"
    (row,) = read_export("notes.csv", data)
    assert row.values == {"Booking ID": "BS-1", "Notes": "first", "Notes (2)": "second", "": "x", " (2)": "y"}


def test_extra_cells_are_kept_for_the_quarantine() -> None:
    _, problems = _parse("uneven_rows.csv")
    extra = next(problem for problem in problems if problem.row == 2)
    assert extra.raw[EXTRA_CELLS] == ["surprise", ""]
    assert extra.raw["Booking ID"] == "BS-2"
    assert extra.booking_id == "BS-2"


def test_broken_quoting_quarantines_the_record_text_and_reading_goes_on() -> None:
    rows = _read("broken_quotes.csv")
    broken = {row.row: str(row.values[RECORD_TEXT]) for row in rows if row.problem}
    assert broken[2].startswith('BS-2,approved,Sea Breeze,"Jane" Doe,')
    # The unterminated quote swallowed BS-5: it is in the quarantined text, not lost.
    assert broken[4].startswith('BS-4,approved,Sea Breeze,"Never closed,')
    assert "\nBS-5," in broken[4]


def test_json_shapes_give_the_same_bookings() -> None:
    from_array, _ = _parse("array.json")
    from_wrapper, _ = _parse("wrapped.json")
    assert [c.booking for c in from_array] == [c.booking for c in from_wrapper]
    assert from_array[1].booking.gross == Decimal("1234.50")
    assert from_array[1].booking.duration_hours == Decimal("2.5")
    assert from_array[0].booking.gross == Decimal("840.75")


def test_json_numbers_are_exact_decimals() -> None:
    rows = read_export("numbers.json", b'[{"gross": 0.1, "duration_hours": 2.675, "passengers": 6, "x": NaN}]')
    values = rows[0].values
    assert values["gross"] == Decimal("0.1")
    assert values["duration_hours"] == Decimal("2.675")
    assert values["passengers"] == 6
    assert isinstance(values["x"], Decimal)


def test_non_object_elements_keep_their_value_for_the_quarantine() -> None:
    _, problems = _parse("mixed_elements.json")
    raws = {problem.row: problem.raw for problem in problems}
    assert raws[2] == {ELEMENT: "BS-2 approved"}
    assert raws[4] == {ELEMENT: None}
    assert raws[5][ELEMENT][0]["duration_hours"] == "2.5"  # Decimal as its exact text
    assert json.dumps(raws)


def test_quarantine_raw_is_the_row_as_read() -> None:
    rows = [RawRow(3, {"Booking ID": "BS-3", "Gross": Decimal("12.345"), "Passengers": 0, "Notes": [Decimal("1")]})]
    _, (problem,) = parse_rows("bookings.json", rows, SAN_DIEGO, last_modified=MODIFIED)
    assert problem == RowProblem(
        "bookings.json",
        3,
        "Status: column is missing",
        {"Booking ID": "BS-3", "Gross": "12.345", "Passengers": 0, "Notes": ["1"]},
    )
    assert problem.booking_id == "BS-3"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bookings.csv", True),
        ("BOOKINGS.CSV", True),
        ("incoming/2026/export.Json", True),
        ("s3://bucket/incoming/export.json", True),
        ("export.csv.tmp", False),
        ("export.txt", False),
        ("incoming/", False),
        ("export.xlsx", False),
        ("csv", False),
        (".csv", False),
        ("incoming/.json", False),
        ("incoming/._bookings.csv", False),
        (".~lock.bookings.csv#", False),
    ],
)
def test_is_export_name(name: str, expected: bool) -> None:
    assert is_export_name(name) is expected


def test_other_files_are_not_read() -> None:
    with pytest.raises(ExportUnreadable, match=r"^not a \.csv or \.json export"):
        read_export("bookings.xlsx", b"PK\x03\x04")


def test_reading_leaves_the_garbage_collector_as_it_was() -> None:
    data = (FILES / "array.json").read_bytes()
    assert gc.isenabled()
    parse_export("array.json", data, SAN_DIEGO, last_modified=MODIFIED)
    assert gc.isenabled()
    gc.disable()
    try:
        parse_export("array.json", data, SAN_DIEGO, last_modified=MODIFIED)
        assert not gc.isenabled()
    finally:
        gc.enable()


# ---- a large export ----------------------------------------------------------------------------------------------


def test_a_large_generated_export() -> None:
    rng = random.Random(9)
    bad = {17: ("Passengers", "0"), 4_242: ("Trip Date", "2026-02-30"), 19_999: ("Gross", "USD 12")}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for number in range(1, 20_001):
        day = date(2026, 1, 1) + timedelta(days=rng.randrange(365))
        row = {
            "Booking ID": f"BS-{number % 15_000}",  # 5,000 bookings appear twice
            "Status": rng.choice(["approved", "Confirmed", "cancelled", "inquiry"]),
            "Boat": rng.choice(["Sea Breeze", "Marina Star"]),
            "Renter Name": rng.choice(["Jane Doe", "Miguel Santos", "Liam O'Brien"]),
            "Renter Email": "guest@example.com",
            "Renter Phone": "",
            "Trip Date": day.isoformat() if number % 2 else day.strftime("%m/%d/%Y"),
            "Start Time": rng.choice(["10:00", "2:30 PM", "12:00 AM"]),
            "Duration Hours": rng.choice(["2", "2.5", "4"]),
            "Passengers": str(rng.randint(1, 12)),
            "Captain": "",
            "Gross": f"${rng.randint(100, 5000):,}.{rng.randint(0, 99):02d}",
            "Updated At": "2026-01-01T00:00:00Z" if number <= 15_000 else f"2026-02-01T00:00:{number % 60:02d}Z",
        }
        if number in bad:
            column, value = bad[number]
            row[column] = value
        writer.writerow(row.values())
    data = out.getvalue().encode("utf-8-sig")

    rows = read_export("big.csv", data)
    candidates, problems = parse_rows("big.csv", rows, SAN_DIEGO, last_modified=MODIFIED)

    assert len(rows) == 20_000
    assert {problem.row: problem.reason.split(":")[0] for problem in problems} == {
        number: column for number, (column, _) in bad.items()
    }
    assert len(candidates) == 20_000 - len(bad)
    newest = newest_per_booking(candidates)
    assert len(newest) == 15_000
    # BS-1 to BS-5000 appear again 15,000 rows later with a newer Updated At; that row wins unless it is bad.
    assert {k: newest[f"BS-{k}"].source.row for k in range(1, 5_001)} == {
        k: k if k == 4_999 else k + 15_000 for k in range(1, 5_001)
    }
    assert newest["BS-17"].booking.updated_at == datetime(2026, 2, 1, 0, 0, 17, tzinfo=UTC)
    assert newest["BS-6000"].source.row == 6_000
    assert newest["BS-0"].source.row == 15_000


# ---- the newest snapshot wins ------------------------------------------------------------------------------------


def _candidate(updated: str, *, file: str = "a.csv", modified: datetime = MODIFIED, row: int = 1) -> Candidate:
    booking = parse_booking(
        {
            "Booking ID": "BS-1", "Status": "approved", "Boat": "Sea Breeze", "Renter Name": "Jane Doe",
            "Trip Date": "2026-07-04", "Start Time": "10:00", "Duration Hours": "3", "Passengers": "6",
            "Gross": "840.75", "Updated At": updated,
        },
        SAN_DIEGO,
    )  # fmt: skip
    return Candidate(booking, Source(file, modified, row))


LATER = MODIFIED + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        # newest Updated At wins, whatever the file or row
        (_candidate("2026-06-01T10:00:00Z", file="z.csv", modified=LATER, row=9), _candidate("2026-06-01T10:00:01Z")),
        # the same instant written in two zones is a tie, broken by the file
        (_candidate("2026-06-01T10:00:00-07:00"), _candidate("2026-06-01T17:00:00Z", modified=LATER)),
        # microseconds count
        (_candidate("2026-06-01T10:00:00.000001Z"), _candidate("2026-06-01T10:00:00.000002Z")),
        # a row without Updated At is older than any row with one
        (_candidate("", file="z.csv", modified=LATER, row=9), _candidate("2000-01-01T00:00:00Z")),
        # among equals, the later file by last-modified time...
        (_candidate("2026-06-01T10:00:00Z", file="z.csv", row=9), _candidate("2026-06-01T10:00:00Z", modified=LATER)),
        (_candidate("", file="z.csv", row=9), _candidate("", modified=LATER)),
        # ...then by name...
        (_candidate("2026-06-01T10:00:00Z", file="a.csv", row=9), _candidate("2026-06-01T10:00:00Z", file="b.csv")),
        # ...then the later row
        (_candidate("2026-06-01T10:00:00Z", row=1), _candidate("2026-06-01T10:00:00Z", row=2)),
        (_candidate("", row=9), _candidate("", row=10)),
    ],
)
def test_snapshot_order(older: Candidate, newer: Candidate) -> None:
    assert snapshot_order(*older) < snapshot_order(*newer)
    assert newest_per_booking([older, newer])["BS-1"] is newer
    assert newest_per_booking([newer, older])["BS-1"] is newer
    # The ledger keeps the key as JSON (DynamoDB gives numbers back as Decimal) and compares later rows to it.
    kept = json.loads(json.dumps(order_key_to_json(snapshot_order(*older))), parse_int=Decimal)
    assert order_key_from_json(kept) < snapshot_order(*newer)
    assert order_key_from_json(kept) == snapshot_order(*older)


def test_newest_per_booking_keeps_first_seen_order() -> None:
    def candidate(booking_id: str, row: int) -> Candidate:
        booking = _candidate("").booking
        return Candidate(Booking(**{**vars(booking), "booking_id": booking_id}), Source("a.csv", MODIFIED, row))

    rows = [candidate("B", 1), candidate("A", 2), candidate("B", 3), candidate("C", 4), candidate("A", 5)]
    newest = newest_per_booking(rows)
    assert list(newest) == ["B", "A", "C"]
    assert [c.source.row for c in newest.values()] == [3, 5, 4]
    assert newest_per_booking([]) == {}


def test_order_key_from_json_refuses_junk() -> None:
    with pytest.raises(ValueError, match="not a snapshot order"):
        order_key_from_json(["", "2026-06-02T09:00:00.000000Z", "a.csv", 1.5])
    with pytest.raises(ValueError, match="not enough values"):
        order_key_from_json(["", "2026-06-02T09:00:00.000000Z", "a.csv"])


def test_naive_last_modified_is_utc() -> None:
    naive = snapshot_order(*_candidate("", modified=datetime(2026, 6, 2, 9, 0)))  # noqa: DTZ001 (the point)
    assert naive == snapshot_order(*_candidate("", modified=MODIFIED))
    assert naive.last_modified == "2026-06-02T09:00:00.000000Z"


# ---- properties --------------------------------------------------------------------------------------------------

_moments = st.datetimes(
    min_value=datetime(1970, 1, 2),  # noqa: DTZ001 (hypothesis bounds are naive; timezones= makes them aware)
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, SAN_DIEGO]),
)


@settings(max_examples=200, deadline=None)
@given(first=_moments, second=_moments)
def test_order_text_sorts_as_time_does(first: datetime, second: datetime) -> None:
    one = snapshot_order(*_candidate("", modified=first)).last_modified
    two = snapshot_order(*_candidate("", modified=second)).last_modified
    assert (one < two) == (first < second)
    assert (one == two) == (first == second)


_names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp", "Zs")), min_size=1, max_size=12
)
_free_text = st.lists(_names, min_size=1, max_size=3).map(" ".join)


def _one_space(text: str) -> str:
    """Text as parse_booking keeps it: stripped, runs of whitespace made one space."""
    return " ".join(text.split())


@st.composite
def _bookings(draw: st.DrawFn) -> Booking:
    trip_date = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
    clock = time(draw(st.integers(0, 23)), draw(st.integers(0, 59)))
    start = datetime.combine(trip_date, clock, tzinfo=SAN_DIEGO)
    # A wall-clock time that does not exist is refused on purpose; generate only real ones.
    assume(start.astimezone(UTC).astimezone(SAN_DIEGO).replace(tzinfo=None) == start.replace(tzinfo=None))
    naive_updates = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))  # noqa: DTZ001
    updated = draw(st.none() | naive_updates)
    return Booking(
        booking_id=draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_\-:./]{0,40}", fullmatch=True)),
        status=draw(st.sampled_from(sorted(KNOWN_STATUSES - {"canceled"}))),
        boat=draw(_free_text),
        renter_name=draw(_free_text),
        trip_date=trip_date,
        start=start,
        duration_hours=draw(st.decimals(min_value=Decimal("0.01"), max_value=24, places=2)),
        passengers=draw(st.integers(1, 150)),
        gross=draw(st.decimals(min_value=0, max_value=Decimal("999999.99"), places=2)),
        captain=draw(st.just("") | _free_text),
        renter_email=draw(st.just("") | st.emails()),
        renter_phone=draw(st.just("") | st.from_regex(r"\+?[0-9 ()\-]{7,20}", fullmatch=True).map(_one_space)),
        updated_at=updated.replace(tzinfo=UTC) if updated else None,
    )


def _cells(booking: Booking, draw: Callable[[st.SearchStrategy[Any]], Any]) -> dict[str, str]:
    """The booking as Boatsetter might write it, in any of the styles the contract allows."""
    clock = booking.start.time()
    if draw(st.booleans()):
        start_time = clock.strftime("%H:%M")
    else:
        hour = clock.hour % 12 or 12
        start_time = f"{hour}:{clock.minute:02d}{draw(st.sampled_from([' ', '']))}{'PM' if clock.hour >= 12 else 'am'}"
    gross = booking.gross
    gross_text = draw(st.sampled_from([f"{gross}", f"${gross}", f"${gross:,}", f"{gross:,}"]))
    updated = booking.updated_at
    return {
        "Booking ID": booking.booking_id,
        "Status": booking.status.upper() if draw(st.booleans()) else booking.status.replace(" ", "_"),
        "Boat": booking.boat,
        "Renter Name": booking.renter_name,
        "Renter Email": booking.renter_email,
        "Renter Phone": booking.renter_phone,
        "Trip Date": booking.trip_date.isoformat() if draw(st.booleans()) else booking.trip_date.strftime("%m/%d/%Y"),
        "Start Time": start_time,
        "Duration Hours": str(booking.duration_hours),
        "Passengers": str(booking.passengers),
        "Captain": booking.captain,
        "Gross": gross_text,
        "Updated At": "" if updated is None else draw(
            st.sampled_from([updated.isoformat(), updated.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                             updated.astimezone(SAN_DIEGO).isoformat()])
        ),
    }  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(bookings=st.lists(_bookings(), min_size=1, max_size=5), data=st.data())
def test_valid_bookings_round_trip_through_a_csv_export(bookings: list[Booking], data: st.DataObject) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=data.draw(st.sampled_from(["\r\n", "\n"])))
    header = [
        data.draw(st.sampled_from([column, column.lower().replace(" ", "_"), column.upper()])) for column in HEADER
    ]
    writer.writerow(header)
    for booking in bookings:
        writer.writerow(_cells(booking, data.draw).values())
    encoded = out.getvalue().encode("utf-8-sig" if data.draw(st.booleans()) else "utf-8")

    candidates, problems = parse_export("export.csv", encoded, SAN_DIEGO, last_modified=MODIFIED)

    assert problems == []
    assert [candidate.booking for candidate in candidates] == [
        Booking(**{**vars(booking), "status": booking.status.replace("_", " ")}) for booking in bookings
    ]


@settings(max_examples=60, deadline=None)
@given(bookings=st.lists(_bookings(), min_size=1, max_size=5), wrapped=st.booleans())
def test_valid_bookings_round_trip_through_a_json_export(bookings: list[Booking], wrapped: bool) -> None:
    records: list[dict[str, Any]] = []
    for booking in bookings:
        record = booking.to_dict()
        record["start_time"] = booking.start.strftime("%H:%M")
        record["duration_hours"] = float(booking.duration_hours)  # a JSON number, read back as its Decimal text
        record["gross"] = float(booking.gross) if booking.gross < 10**15 else str(booking.gross)
        del record["start"], record["timezone"]
        records.append(record)
    document: Any = {"bookings": records} if wrapped else records
    candidates, problems = parse_export("export.json", json.dumps(document).encode(), SAN_DIEGO, last_modified=MODIFIED)
    assert problems == []
    assert [candidate.booking for candidate in candidates] == bookings


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=300) | st.text(max_size=200).map(str.encode), name=st.sampled_from(["x.csv", "x.json"]))
def test_any_bytes_are_rows_or_unreadable(data: bytes, name: str) -> None:
    try:
        rows = read_export(name, data)
    except ExportUnreadable:
        return  # the reason's wording is checked on the corpus files
    numbers = [row.row for row in rows]
    assert numbers == sorted(set(numbers))
    assert all(number >= 1 for number in numbers)
    candidates, problems = parse_rows(name, rows, SAN_DIEGO, last_modified=MODIFIED)
    assert len(candidates) + len(problems) == len(rows)
    json.dumps([problem.to_dict() for problem in problems])


def test_snapshot_order_is_a_plain_tuple_of_text_and_row() -> None:
    order = snapshot_order(*_candidate("2026-06-01T10:00:00-07:00", row=4))
    assert order == SnapshotOrder("2026-06-01T17:00:00.000000Z", "2026-06-02T09:00:00.000000Z", "a.csv", 4)
    assert order_key_to_json(order) == ["2026-06-01T17:00:00.000000Z", "2026-06-02T09:00:00.000000Z", "a.csv", 4]


# ---- row digests: how the poll knows a row it has read before ------------------------------------------------------

ROW = 'BS-9, approved,Sea Breeze,Jane Doe,jane@example.com,,2026-07-04,10:00,3,6,,"$1,840.75",2026-06-01T17:04:12Z'


def _digests(text: str, name: str = "a.csv", zone: str = "America/Los_Angeles") -> list[tuple[str, str]]:
    return [(row.booking_id, row.digest) for row in read_export(name, text.encode(), zone=zone)]


def test_a_csv_row_carries_its_booking_id_and_a_digest_of_the_row_as_written() -> None:
    header = ",".join(HEADER)
    ((booking_id, digest),) = _digests(f"{header}\n{ROW}\n")
    assert booking_id == "BS-9"
    assert len(digest) == 32
    # The same row is the same row whatever the file's line ends, byte-order mark, trailing commas or name.
    assert _digests(f"\ufeff{header}\r\n{ROW}\r\n", "b.csv") == [("BS-9", digest)]
    assert _digests(f"{header}\n{ROW},,\n") == [("BS-9", digest)]
    # Any change to what is written, or to the header it is read under, is another row.
    assert _digests(f"{header}\n{ROW.replace('Jane', 'June')}\n")[0][1] != digest
    assert _digests(f"{header}\n{ROW.replace(' approved', 'approved')}\n")[0][1] != digest
    assert _digests(f"{header.replace('Gross', 'gross')}\n{ROW}\n")[0][1] != digest
    # So is a row to be read in another time zone: its times are other instants.
    assert _digests(f"{header}\n{ROW}\n", zone="America/New_York")[0][1] != digest
    # Cells are joined unambiguously: moving a comma between two cells moves the row.
    moved = ROW.replace("Sea Breeze,Jane Doe", "Sea Breeze Jane,Doe")
    assert _digests(f"{header}\n{moved}\n")[0][1] != digest


def test_rows_without_a_digest_are_the_ones_that_cannot_be_recognised() -> None:
    header = ",".join(HEADER)
    broken = _digests(f'{header}\n{ROW}\nBS-10,"approved\n', "a.csv")
    assert broken[1] == ("", "")  # a record with broken quoting
    too_long = _digests(f"{header}\n{ROW},extra\n")
    assert too_long == [("", "")]
    json_rows = _digests(json.dumps([{"Booking ID": "BS-9", "Status": "approved"}]), "a.json")
    assert json_rows == [("", "")]


def test_a_row_that_is_not_read_again_never_builds_its_values() -> None:
    (row,) = read_export("a.csv", f"{','.join(HEADER)}\n{ROW}\n".encode())
    assert row._values is None
    assert row.values["Gross"] == "$1,840.75"
    assert row.values is row.values
    assert "BS-9" in repr(row)


def test_without_the_parsing_source_no_digest_is_ever_the_same_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    from charter_pipeline import exports

    def unreadable(self: Path) -> bytes:
        raise FileNotFoundError(self)

    text = f"{','.join(HEADER)}\n{ROW}\n"
    monkeypatch.setattr(Path, "read_bytes", unreadable)
    exports._parser_identity.cache_clear()
    try:
        first = _digests(text)
        exports._parser_identity.cache_clear()  # as a new task process would start
        assert _digests(text) != first
    finally:
        exports._parser_identity.cache_clear()
