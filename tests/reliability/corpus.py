"""A corpus of malformed Boatsetter exports, each bad row or file with good neighbours (CONTRACT.md section 3).

Every case says what the pipeline must make of it: a good row is processed (published or recorded), a bad row is
quarantined with a reason naming its field, an unreadable file is quarantined whole, and a file with no data rows
(empty, header only, ``[]``) yields nothing to quarantine. Files other than ``*.csv``/``*.json`` are ignored.

Formula injection: a renter name such as ``=HYPERLINK("http://evil","x")`` is data, not an error. The pipeline
publishes the booking; the name reaches the JADA calendar as a JSON string and the guest page autoescaped, where it
is text and never a link or a script. (Spreadsheet tools that later export the calendar are out of this scope.)
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from tests.e2e.harness import HEADER, days_ahead, row


@dataclass(frozen=True)
class BadRow:
    """One malformed row: what is wrong, and the pattern its quarantine reason must match (the field's name)."""

    what: str
    reason: str
    cells: list[str] | dict[str, str]


@dataclass
class ExportFile:
    """One file dropped into the exports. ``good`` holds its good rows (as harness rows), ``bad`` its bad rows with
    their 1-based row numbers, ``unreadable`` the reason pattern when the whole file is refused."""

    name: str
    body: bytes
    what: str
    good: list[dict[str, str]] = field(default_factory=list)
    bad: list[tuple[int, BadRow]] = field(default_factory=list)
    unreadable: str = ""
    ignored: bool = False


# Good neighbours: the ones with a future approved charter are published, the others recorded only.
PUBLISHED = {"REL-B-G1", "REL-B-G4", "REL-B-G5", "REL-B-G7"}
RECORDED = {"REL-B-G2", "REL-B-G3", "REL-B-G6", "REL-B-G8"}
FORMULA_NAME = '=HYPERLINK("http://evil.example","click") Fields'
SCRIPT_NAME = "<script>alert('owned')</script>Eve Evans"


def good(booking_id: str, n: int, **values: str) -> dict[str, str]:
    names = {1: "Ines Carvalho", 2: "Hugo Brandt", 3: "Gwen Abbott", 6: "Femi Adeyemi", 8: "Dara Kovac"}
    defaults = {
        "renter_name": names.get(n, "Kai Lund"), "trip_date": days_ahead(8 + n), "start_time": "10:00",
        "renter_email": f"guest{n}@renters.example.net", "renter_phone": f"+1 760 555 02{n:02d}",
    }  # fmt: skip
    return row(booking_id, **{**defaults, **values})


def bad(n: int, **values: str) -> dict[str, str]:
    defaults = {"trip_date": days_ahead(12), "renter_email": f"bad{n}@renters.example.net"}
    return row(f"REL-B-X{n:02d}", **{**defaults, **values})


MIXED_BAD = [
    BadRow("passengers 10000", r"^Passengers:", bad(1, passengers="10000")),
    BadRow("passengers 0", r"^Passengers:", bad(2, passengers="0")),
    BadRow("passengers in words", r"^Passengers:", bad(3, passengers="six")),
    BadRow("duration 0", r"^Duration Hours:", bad(4, duration_hours="0")),
    BadRow("duration 25", r"^Duration Hours:", bad(5, duration_hours="25")),
    BadRow("duration -1", r"^Duration Hours:", bad(6, duration_hours="-1")),
    BadRow("gross -5", r"^Gross:", bad(7, gross="-5")),
    BadRow("gross in words", r"^Gross:", bad(8, gross="ten dollars")),
    BadRow("formula as gross", r"^Gross:", bad(9, gross="=1+1")),
    BadRow("date 13/45/2026", r"^Trip Date:", bad(10, trip_date="13/45/2026")),
    BadRow("date 2026-02-30", r"^Trip Date:", bad(11, trip_date="2026-02-30")),
    BadRow("time 25:61", r"^Start Time:", bad(12, start_time="25:61")),
    BadRow("time in words", r"^Start Time:", bad(13, start_time="noon-ish")),
    BadRow("booking id of 65 characters", r"^Booking ID:", {**bad(14), "Booking ID": "B" * 65}),
    BadRow("empty booking id", r"^Booking ID:", {**bad(15), "Booking ID": ""}),
    BadRow("unknown status", r"^Status:", bad(16, status="maybe later")),
    BadRow("empty renter name", r"^Renter Name:", bad(17, renter_name="")),
    BadRow("boat name of 201 characters", r"^Boat:", bad(18, boat="S" * 201)),
    BadRow("updated at in words", r"^Updated At:", bad(19, updated_at="last tuesday")),
    BadRow("14 cells under a 13-column header", r"cells", [*bad(20).values(), "stray cell"]),
]


def csv_text(header: list[str], rows: list[list[str] | dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for cells in rows:
        writer.writerow([cells.get(h, "") for h in header] if isinstance(cells, dict) else cells)
    return out.getvalue()


def mixed_file() -> ExportFile:
    """Good rows interleaved with every kind of bad value."""
    goods = [
        good("REL-B-G1", 1),
        good("REL-B-G2", 2, status="inquiry"),
        good("REL-B-G3", 3, trip_date=days_ahead(-30)),
        good("REL-B-G4", 4, renter_name=FORMULA_NAME),
        good("REL-B-G5", 5, renter_name=SCRIPT_NAME),
    ]
    rows: list[list[str] | dict[str, str]] = []
    export = ExportFile("mixed.csv", b"", "good rows among 20 bad values")
    for index, case in enumerate(MIXED_BAD):
        if index % 4 == 0 and goods:
            booking = goods.pop(0)
            rows.append(booking)
            export.good.append(booking)
        rows.append(case.cells)
        export.bad.append((len(rows), case))
    export.body = csv_text(HEADER, rows).encode()
    return export


def corpus() -> list[ExportFile]:
    """Every file of the corpus."""
    g6 = good("REL-B-G6", 6, status="expired")
    # The harness's column order, in other header styles (CONTRACT.md section 3: one column however it is written).
    styled_header = ["booking_id", "STATUS", "boat", "Renter-Name", "renter email", "Renter Phone", "trip date",
                     "Start_Time", "DURATION HOURS", "passengers", "captain", "Gross", "updated_at"]  # fmt: skip
    g6_cells = [g6[h] for h in HEADER]
    bom = "\ufeff" + csv_text(styled_header, [g6_cells, [*bad(21, passengers="-3").values()]]).replace("\n", "\r\n")

    g8 = good("REL-B-G8", 8, status="cancelled")
    truncated = csv_text(HEADER, [g8]) + 'REL-B-X22,approved,"Sea Breeze,Cut Off'

    latin1 = csv_text(HEADER, [row("REL-B-L1", renter_name="Zoë Müller")]).encode("latin-1")
    utf16 = csv_text(HEADER, [row("REL-B-U1")]).encode("utf-16")
    missing = csv_text([h for h in HEADER if h not in ("Passengers", "Gross")], [bad(23), bad(24)])
    duplicate = csv_text([*HEADER, "gross"], [[*row("REL-B-D1").values(), "12.00"]])
    g7 = {
        "booking_id": "REL-B-G7", "status": "confirmed", "boat": "Harbor Light", "renter_name": "Ada Quist",
        "trip_date": days_ahead(15), "start_time": "9:30 AM", "duration_hours": 2.5, "passengers": 4,
        "gross": 600.00, "renter_email": "guest7@renters.example.net", "renter_phone": "+1 760 555 0207",
    }  # fmt: skip
    g7_row = row("REL-B-G7", renter_name="Ada Quist", renter_email=g7["renter_email"], renter_phone=g7["renter_phone"])
    json_bad_number = {**g7, "booking_id": "REL-B-X25", "passengers": 10000}
    json_nan = json.dumps({**g7, "booking_id": "REL-B-X26"}).replace('"gross": 600.0', '"gross": NaN')
    bookings_json = (
        '{"bookings": [' + json.dumps(g7) + ', "just a string", ' + json.dumps(json_bad_number) + ", " + json_nan + "]}"
    )
    truncated_json = json.dumps([g7, {**g7, "booking_id": "REL-B-J2"}])[:-40]

    return [
        mixed_file(),
        ExportFile(
            "bom-crlf.csv",
            bom.encode(),
            "UTF-8 BOM, CRLF, headers in other styles",
            good=[g6],
            bad=[(2, BadRow("passengers -3", r"^Passengers:", []))],
        ),
        ExportFile(
            "truncated.csv",
            truncated.encode(),
            "cut off inside a quoted cell",
            good=[g8],
            bad=[(2, BadRow("unclosed quote at the end of the file", r"quot", []))],
        ),
        ExportFile(
            "missing-columns.csv",
            missing.encode(),
            "no Passengers or Gross column",
            bad=[
                (1, BadRow("Passengers column missing", r"^Passengers:", [])),
                (2, BadRow("Passengers column missing", r"^Passengers:", [])),
            ],
        ),
        ExportFile(
            "bookings.json",
            bookings_json.encode(),
            '{"bookings": [...]} with bad elements',
            good=[g7_row],
            bad=[
                (2, BadRow("an element that is a string", r"element 2", [])),
                (3, BadRow("passengers 10000 as a JSON number", r"^Passengers:", [])),
                (4, BadRow("gross NaN", r"^Gross:", [])),
            ],
        ),
        ExportFile("latin1.csv", latin1, "Latin-1 encoded", unreadable=r"UTF-8"),
        ExportFile("utf16.csv", utf16, "UTF-16 encoded", unreadable=r"UTF-16"),
        ExportFile("junk.csv", bytes(range(256)) * 4, "binary junk with NUL bytes", unreadable=r"NUL|binary"),
        ExportFile("junk.json", b"\x89PNG\r\n\x1a\n\xff\xfe\xfd" * 30, "binary junk, no NUL", unreadable=r"UTF"),
        ExportFile("truncated.json", truncated_json.encode(), "JSON cut off mid-object", unreadable=r"JSON"),
        ExportFile("duplicate-header.csv", duplicate.encode(), "Gross and gross in one header", unreadable=r"twice"),
        ExportFile("object.json", b'{"rows": []}', "a JSON object without bookings", unreadable=r"array"),
        ExportFile("empty.csv", b"", "zero bytes"),
        ExportFile("header-only.csv", csv_text(HEADER, []).encode(), "a header and no rows"),
        ExportFile("empty-array.json", b"[]", "an empty JSON array"),
        ExportFile("notes.txt", b"Booking ID,Status\nnot an export", "not a .csv or .json", ignored=True),
    ]
