"""Boatsetter export files as rows, and which row is each booking's newest snapshot. Pure: bytes in, rows out.

CONTRACT.md section 3 fixes the formats; where it is silent this module decides, as an operator would expect:

- Encoding: UTF-8, with or without a byte-order mark. Anything else (Latin-1, UTF-16, binary) makes the file
  unreadable with a reason that says how to fix it, rather than guessing and mangling names.
- A file of zero bytes (or only whitespace) is an export with no bookings: no rows, nothing to report.
- CSV: the first non-blank record is the header and must name at least one booking column, else the file is
  unreadable. Two header cells naming the same column (``Gross`` and ``gross``) make it unreadable too.
  Blank records (empty or only blank cells) are skipped. ``RawRow.row`` counts data records the way a
  spreadsheet shows them: the header is not counted, skipped blank lines are, and a quoted cell spanning
  several lines is one record. A record with more cells than the header keeps the extra cells under
  ``EXTRA_CELLS`` and is reported (extra cells that are all empty, spreadsheets' trailing commas, are
  dropped); one with fewer has its missing columns empty. A record with broken quoting is reported on its
  own and reading goes on with the next line. Unknown columns may repeat; the second is kept as ``Name (2)``.
- JSON: parsed with ``parse_float=Decimal``; ``NaN``/``Infinity`` become Decimal values that every number rule
  refuses, so only that row is reported. An element that is not an object is a bad row, not a bad file.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from hashlib import blake2b
from pathlib import Path
from typing import Any, Final, NamedTuple
from zoneinfo import ZoneInfo

from charter_pipeline.booking import FIELD_BY_COLUMN_KEY, Booking, BookingError, column_key, parse_booking

# Keys that only read_export puts into RawRow.values, for what a row held besides its columns.
EXTRA_CELLS: Final = "__extra__"  # cells beyond the header's last column
RECORD_TEXT: Final = "__record__"  # the text of a CSV record whose quoting could not be read
ELEMENT: Final = "__element__"  # a JSON array element that is not an object

_EXTENSIONS: Final = (".csv", ".json")
_RAW_TEXT_LIMIT = 65_536


class ExportUnreadable(ValueError):
    """An export file that cannot be read at all. ``reason`` is for the operator and never quotes a whole file."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RawRow:
    """One data row as read. ``row`` is 1-based among data rows; ``problem`` says why it cannot be a booking.

    A CSV row also carries its Booking ID cell (stripped) and a digest of the row: the header it was read under,
    the time zone it is to be read in, and every cell, exactly as written. The poll compares the digest with the
    one the ledger kept for the booking's recorded snapshot and leaves a row it has already read, and settled,
    unparsed (``ledger.settled``).
    ``values`` (column name -> cell) is built only when somebody asks for it, so such a row never costs a dict.
    """

    __slots__ = ("_cells", "_header", "_values", "booking_id", "digest", "problem", "row")

    def __init__(self, row: int, values: dict[str, object] | None = None, problem: str | None = None) -> None:
        self.row = row
        self.problem = problem
        self.booking_id = ""  # "" when the row was not read from CSV cells (JSON, broken or uneven records)
        self.digest = ""
        self._header: list[str] = []
        self._cells: list[str] = []
        self._values = values

    @classmethod
    def from_cells(cls, row: int, header: list[str], cells: list[str], booking_id: str, digest: str) -> RawRow:
        raw = cls(row)
        raw._header, raw._cells, raw.booking_id, raw.digest = header, cells, booking_id, digest
        return raw

    @property
    def values(self) -> dict[str, object]:
        if self._values is None:
            self._values = dict(zip(self._header, self._cells))  # noqa: B905 (same length, checked by the reader)
        return self._values

    def __repr__(self) -> str:
        return f"RawRow(row={self.row}, values={self.values!r}, problem={self.problem!r})"


class Source(NamedTuple):
    """Where a snapshot came from: the export file (its full name), the file's last-modified time, the row, and
    the row's digest (``RawRow.digest``; "" when not read from CSV cells)."""

    file: str
    last_modified: datetime
    row: int
    row_digest: str = ""


class Candidate(NamedTuple):
    """A booking snapshot read from an export, and where it was read."""

    booking: Booking
    source: Source


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A row that failed validation: exactly what is quarantined (CONTRACT.md section 3)."""

    source: str
    row: int
    reason: str
    raw: dict[str, Any] = field(default_factory=dict)  # JSON-safe: Decimals as strings

    def to_dict(self) -> dict[str, Any]:
        """The quarantine record."""
        return {"source": self.source, "row": self.row, "reason": self.reason, "raw": self.raw}

    @property
    def booking_id(self) -> str:
        """The row's Booking ID cell as written (stripped), when it has one: for the run summary."""
        for key, value in self.raw.items():
            if FIELD_BY_COLUMN_KEY.get(column_key(key)) == "booking_id" and isinstance(value, str | int | Decimal):
                return str(value).strip()
        return ""


class SnapshotOrder(NamedTuple):
    """Sort key of one snapshot of a booking; the greatest wins (CONTRACT.md section 3).

    ``updated_at`` and ``last_modified`` are UTC ISO 8601 text of one fixed width, so text order is time
    order, and a snapshot without Updated At (``""``) is older than any with one. It is JSON-safe as a list.
    """

    updated_at: str
    last_modified: str
    file: str
    row: int


def is_export_name(name: str) -> bool:
    """Whether a file (by its name or key) is a Boatsetter export: ``*.csv`` or ``*.json``, any case.

    A name starting with a dot is not one: macOS leaves ``._bookings.csv`` beside a copied export, editors
    leave lock files, and neither holds bookings.
    """
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and base.lower().endswith(_EXTENSIONS)


def read_export(name: str, data: bytes, *, zone: str = "") -> list[RawRow]:
    """The data rows of one export file; raises ExportUnreadable when the file cannot be read at all.

    ``zone`` is the time zone (its key) the rows are to be read in: each CSV row's digest stands for it too.
    """
    lowered = name.lower()
    if not is_export_name(name):
        raise ExportUnreadable("not a .csv or .json export (by its name)")
    text = _decode(data)
    if not text.strip():
        return []
    with collector_paused():
        return _read_csv(text, zone) if lowered.endswith(".csv") else _read_json(text)


def parse_rows(
    name: str, rows: Iterable[RawRow], tz: ZoneInfo, *, last_modified: datetime
) -> tuple[list[Candidate], list[RowProblem]]:
    """Every row of one export as a booking candidate or a problem to quarantine; one bad row stops nothing."""
    candidates: list[Candidate] = []
    problems: list[RowProblem] = []
    with collector_paused():
        for raw in rows:
            if raw.problem is not None:
                problems.append(RowProblem(name, raw.row, raw.problem, _json_safe(raw.values)))
                continue
            try:
                booking = parse_booking(raw.values, tz)
            except BookingError as error:
                problems.append(RowProblem(name, raw.row, str(error), _json_safe(raw.values)))
                continue
            candidates.append(Candidate(booking, Source(name, last_modified, raw.row, raw.digest)))
    return candidates, problems


def parse_export(
    name: str, data: bytes, tz: ZoneInfo, *, last_modified: datetime
) -> tuple[list[Candidate], list[RowProblem]]:
    """``read_export`` then ``parse_rows``: one export file's bytes to candidates and problems."""
    return parse_rows(name, read_export(name, data, zone=tz.key), tz, last_modified=last_modified)


def snapshot_order(booking: Booking, source: Source) -> SnapshotOrder:
    """Newest Updated At, then the later file (last-modified time, then name), then the later row."""
    return SnapshotOrder(
        updated_at=_utc_text(booking.updated_at) if booking.updated_at else "",
        last_modified=_file_time_text(source.last_modified),
        file=source.file,
        row=source.row,
    )


def placed_order(recorded_key: Sequence[object], source: Source) -> SnapshotOrder:
    """The snapshot order of a row left unparsed because it is the recorded snapshot's own row (ledger.settled):
    its Updated At is the one recorded (the same cell, read the same way), its place is where it was read now."""
    return SnapshotOrder(str(recorded_key[0]), _file_time_text(source.last_modified), source.file, source.row)


def order_key_to_json(order: SnapshotOrder) -> list[str | int]:
    """The order as a JSON list, for the ledger to keep the winning snapshot's key."""
    return [order.updated_at, order.last_modified, order.file, order.row]


def order_key_from_json(data: Sequence[object]) -> SnapshotOrder:
    """Inverse of ``order_key_to_json``; the row may come back from DynamoDB as a Decimal."""
    updated_at, last_modified, file, row = data
    if not isinstance(row, int | Decimal) or isinstance(row, bool) or int(row) != row:
        raise ValueError(f"not a snapshot order: row {row!r}")
    return SnapshotOrder(str(updated_at), str(last_modified), str(file), int(row))


def newest_per_booking(candidates: Iterable[Candidate]) -> dict[str, Candidate]:
    """Each booking's newest snapshot among ``candidates``, keyed by booking id in first-seen order."""
    newest: dict[str, Candidate] = {}
    for candidate in candidates:
        booking_id = candidate.booking.booking_id
        held = newest.setdefault(booking_id, candidate)
        # Most bookings appear once: their order is worked out only when a second snapshot turns up.
        if held is not candidate and snapshot_order(*candidate) > snapshot_order(*held):
            newest[booking_id] = candidate
    return newest


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while rows are built, restoring it as it was.

    A 100,000-row export allocates some 400,000 tuples, dicts and Bookings, none of them in a reference cycle
    (reference counting frees them all). Left running, the collector walks the task's whole heap over and over
    meanwhile; issue 9's intake benchmark measured that at 40% of read_export and parse_rows, and at a third of
    a whole poll against a 100,000-record ledger.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def row_digest_key(header: Sequence[str], zone: str) -> bytes:
    """The key of ``RawRow.digest`` for rows read under ``header`` in time zone ``zone``, made of both and of the
    parsing code itself (``_parser_identity``): a digest matches only a row read under the same header, in the
    same zone, the same way. (_decode refuses NUL bytes, and no zone name holds one: the joined text is
    unambiguous.)"""
    return blake2b("\x00".join([zone, *header]).encode(), digest_size=32, key=_parser_identity()).digest()


def _utc_text(moment: datetime) -> str:
    # isoformat pads the year to four digits and timespec fixes the width: text order is time order.
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC) if moment.tzinfo is not None else moment
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@lru_cache(maxsize=64)
def _file_time_text(moment: datetime) -> str:
    """``_utc_text`` of a file's last-modified time, which every row of the file shares."""
    return _utc_text(moment)


@lru_cache(maxsize=1)
def _parser_identity() -> bytes:
    """A key that changes whenever the code turning cells into bookings changes (this module, booking.py).

    A row digest stands for "this row, read by this code, in this zone". Deriving the key from the source,
    instead of a version number somebody must remember to bump, makes the first poll after any parsing change read
    every row in full again.
    """
    from charter_pipeline import booking

    try:
        blob = b"".join(Path(module).read_bytes() for module in (__file__, booking.__file__))
    except OSError:  # installed without its source: a key of this process only, so no digest ever matches
        return os.urandom(32)
    return blake2b(blob, digest_size=32).digest()


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ExportUnreadable("the file is UTF-16 text; exports must be UTF-8 (save it as UTF-8)")
    if b"\x00" in data:
        raise ExportUnreadable("the file holds NUL bytes: binary data or UTF-16 text, not a UTF-8 export")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ExportUnreadable(
            f"the file is not UTF-8: byte 0x{data[error.start]:02x} on line {line} "
            "(Latin-1 or Windows-1252? save it as UTF-8)"
        ) from None


def _read_csv(text: str, zone: str) -> list[RawRow]:
    # strict: a quote in the wrong place is an error for that record instead of a silently glued cell.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = _csv_header(reader)
    if header is None:
        return []
    width = len(header)
    id_column = next((i for i, name in enumerate(header) if FIELD_BY_COLUMN_KEY.get(column_key(name)) == "booking_id"),
                     None)  # fmt: skip
    layout = row_digest_key(header, zone)
    rows: list[RawRow] = []
    append = rows.append
    from_cells = RawRow.from_cells
    record = 0
    first_line = reader.line_num
    lines: list[str] = []  # the file's physical lines, split only when a record is broken
    while True:
        try:
            for cells in reader:
                record += 1
                if len(cells) != width or not cells[0].strip():
                    fitted = _fit_record(header, cells, record)
                    if not isinstance(fitted, list):  # blank (skipped) or too long (reported)
                        if fitted is not None:
                            append(fitted)
                        first_line = reader.line_num
                        continue
                    cells = fitted
                # _decode refuses NUL bytes, so NUL-joined cells are unambiguous.
                digest = blake2b("\x00".join(cells).encode(), digest_size=16, key=layout).hexdigest()
                booking_id = cells[id_column].strip() if id_column is not None else ""
                append(from_cells(record, header, cells, booking_id, digest))
                first_line = reader.line_num
            return rows
        except csv.Error as error:
            # The reader goes on with the line after the broken record.
            record += 1
            lines = lines or io.StringIO(text, newline="").readlines()
            append(_broken_record(lines, record, first_line, reader.line_num, error))
            first_line = reader.line_num


def _fit_record(header: list[str], cells: list[str], record: int) -> list[str] | RawRow | None:
    """A record that is not one cell per column, or starts with a blank cell: None when it is blank (skipped), its
    cells fitted to the header when it is short (missing columns empty) or has only empty cells beyond it, and a
    reported row when it has more cells than the header."""
    if not "".join(cells).strip():
        return None  # a blank line, or a spreadsheet's row of empty cells
    width = len(header)
    if len(cells) <= width:
        return cells + [""] * (width - len(cells))
    extra = cells[width:]
    if not "".join(extra).strip():
        return cells[:width]  # trailing empty cells, as spreadsheets write them
    values: dict[str, object] = dict(zip(header, cells[:width], strict=True))
    values[EXTRA_CELLS] = extra
    return RawRow(record, values, f"row has {len(cells)} cells but the header has {width} columns")


def _csv_header(reader: Any) -> list[str] | None:
    """The header's column names, made unique; None for a file with no records at all."""
    for cells in _records(reader, "header"):
        if not "".join(cells).strip():
            continue
        names = [cell.strip() for cell in cells]
        if not any(column_key(name) in FIELD_BY_COLUMN_KEY for name in names):
            shown = ", ".join(repr(name[:40]) for name in names[:3]) + (", ..." if len(names) > 3 else "")
            raise ExportUnreadable(
                f"no header row: the first line ({shown}) names none of the booking columns "
                "(Booking ID, Status, Boat, ...)"
            )
        seen: dict[str, str] = {}
        unique: list[str] = []
        for name in names:
            key = column_key(name)
            if key in FIELD_BY_COLUMN_KEY and key in seen:
                raise ExportUnreadable(f"the header names one column twice: {seen[key]!r} and {name!r}")
            seen.setdefault(key, name)
            # Unknown columns may repeat (or be blank); keep each cell so a quarantined row shows all it held.
            copy, unique_name = 1, name
            while unique_name in unique:
                copy += 1
                unique_name = f"{name} ({copy})"
            unique.append(unique_name)
        return unique
    return None


def _records(reader: Any, what: str) -> Iterable[list[str]]:
    try:
        yield from reader
    except csv.Error as error:
        raise ExportUnreadable(f"the {what} on line {reader.line_num} is not valid CSV ({error})") from None


def _broken_record(lines: list[str], record: int, first_line: int, last_line: int, error: csv.Error) -> RawRow:
    shown = "".join(lines[first_line:last_line])
    if len(shown) > _RAW_TEXT_LIMIT:
        shown = shown[:_RAW_TEXT_LIMIT] + "..."
    if str(error) == "unexpected end of data":
        reason = (
            f"a quoted cell opened on line {first_line + 1} never closes: the rest of the file is one cell "
            "(truncated file or stray quote)"
        )
    else:
        reason = f"broken CSV quoting on line {last_line} ({error})"
    return RawRow(record, {RECORD_TEXT: shown}, reason)


def _read_json(text: str) -> list[RawRow]:
    try:
        document = json.loads(text, parse_float=Decimal, parse_constant=Decimal)
    except json.JSONDecodeError as error:
        raise ExportUnreadable(
            f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
            + (" (the file looks truncated)" if error.pos >= len(text.rstrip()) else "")
        ) from None
    except (ValueError, RecursionError) as error:
        raise ExportUnreadable(f"not a readable JSON export ({type(error).__name__})") from None
    if isinstance(document, Mapping) and isinstance(document.get("bookings"), list):
        elements = document["bookings"]
    elif isinstance(document, list):
        elements = document
    else:
        raise ExportUnreadable('a JSON export must be an array of bookings or {"bookings": [...]}')
    rows: list[RawRow] = []
    for number, element in enumerate(elements, start=1):
        if isinstance(element, dict):
            rows.append(RawRow(number, element))
        else:
            kind = json_kind(element)
            rows.append(RawRow(number, {ELEMENT: element}, f"element {number} is {kind}, not a booking object"))
    return rows


def json_kind(value: object) -> str:
    """What a JSON value is, in words ("a number", "null"): for a message about an element that is no object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"


def _json_safe(value: object) -> Any:
    """A row as plain JSON: Decimals become their exact text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if value is None or isinstance(value, str | int | float):
        return value
    return str(value)
