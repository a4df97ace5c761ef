"""Realistic Boatsetter sample exports for the local stack, dated relative to today in San Diego.

One CSV export in Boatsetter's own header style and one small JSON update file. Together they hold a dozen
bookings over four boats and every kind of row the pipeline meets: charters ahead (approved, confirmed, booked
with and without a captain), not-yet-charters (inquiry, pre-approved), a completed trip in the past, a booking
approved in the CSV and cancelled later in the JSON, and two rows Boatsetter should never have sent.

Everything is a pure function of ``today``: two calls with the same date give byte-identical files.
Names avoid words the SCC notes scrub treats as money (no "Bennett", "Costa", "Payton"): a guest's name must
reach crew intact.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse
from zoneinfo import ZoneInfo

SAN_DIEGO = ZoneInfo("America/Los_Angeles")

BOATSETTER_HEADER = (
    "Booking ID",
    "Status",
    "Boat",
    "Renter Name",
    "Renter Email",
    "Renter Phone",
    "Trip Date",
    "Start Time",
    "Duration Hours",
    "Passengers",
    "Captain",
    "Gross",
    "Updated At",
)

# What the pipeline should make of each sample booking once every sample file has been read.
Expectation = Literal["published", "recorded", "past", "cancelled", "quarantined"]

SAMPLE_ROSTER: dict[str, Any] = {
    "default": {
        "captain": {"name": "Dana Whitfield", "email": "dana.whitfield@example.com"},
        "crew": [
            {"name": "Luis Ortega", "email": "luis.ortega@example.com"},
            {"name": "Kim Nguyen", "email": "kim.nguyen@example.com"},
        ],
    },
    "Marina Star": {
        "captain": {"name": "Rosa Alvarez", "email": "rosa.alvarez@example.com"},
        "crew": [
            {"name": "Jake Morales", "email": "jake.morales@example.com"},
            {"name": "Tessa Byrne", "email": "tessa.byrne@example.com"},
        ],
    },
    "Harbor Light": {
        "captain": {"name": "Eli Sandoval", "email": "eli.sandoval@example.com"},
        "crew": [
            {"name": "Nora Quinn", "email": "nora.quinn@example.com"},
            {"name": "Kim Nguyen", "email": "kim.nguyen@example.com"},
        ],
    },
}

CSV_NAME = "boatsetter-bookings-{today}.csv"
JSON_NAME = "boatsetter-updates-{today}.json"


@dataclass(frozen=True)
class SampleBooking:
    """One sample row: the values as exported, which file holds it, and what the pipeline should do with it."""

    file: Literal["csv", "json"]
    values: Mapping[str, Any]
    expect: Expectation
    bad_field: str = ""  # for a quarantined row: the column its reason names

    @property
    def booking_id(self) -> str:
        return str(self.values["Booking ID"])

    @property
    def first_name(self) -> str:
        return str(self.values["Renter Name"]).split()[0]


def today_in_san_diego(now: datetime | None = None) -> date:
    """The operator's calendar date (the pipeline's default time zone), whatever the machine's zone."""
    return (now or datetime.now(tz=SAN_DIEGO)).astimezone(SAN_DIEGO).date()


def sample_bookings(today: date | None = None) -> list[SampleBooking]:
    """Every sample row, in file order, with its expected outcome."""
    t = today or today_in_san_diego()

    def iso(days: int) -> str:
        return (t + timedelta(days=days)).isoformat()

    def us(days: int) -> str:
        return (t + timedelta(days=days)).strftime("%m/%d/%Y")

    def stamp(days: int, hhmmss: str, offset: str = "Z") -> str:
        return f"{(t + timedelta(days=days)).isoformat()}T{hhmmss}{offset}"

    def row(
        booking_id: str,
        status: str,
        boat: str,
        renter: str,
        trip_date: str,
        start: str,
        hours: str,
        passengers: str,
        gross: str,
        updated: str,
        *,
        captain: str = "",
        phone: str = "",
    ) -> dict[str, str]:
        email = renter.lower().replace("'", "").replace(" ", ".") + "@example.com"
        return {
            "Booking ID": booking_id,
            "Status": status,
            "Boat": boat,
            "Renter Name": renter,
            "Renter Email": email,
            "Renter Phone": phone,
            "Trip Date": trip_date,
            "Start Time": start,
            "Duration Hours": hours,
            "Passengers": passengers,
            "Captain": captain,
            "Gross": gross,
            "Updated At": updated,
        }

    # fmt: off
    return [
        SampleBooking(
            "csv",
            row("BS-480117", "approved", "Sea Breeze", "Jane Doe", iso(3), "10:00", "3", "6", "840.75",
                stamp(-2, "17:04:12"), phone="+1 619 555 0142"),
            "published",
        ),
        SampleBooking(
            "csv",
            row("BS-480122", "Confirmed", "Marina Star", "Miguel Santos", us(5), "2:30 PM", "4", "10", "$1,234.50",
                stamp(-3, "09:12:45", "-07:00"), captain="Rosa Alvarez", phone="(858) 555-0107"),
            "published",
        ),
        SampleBooking(
            "csv",
            row("BS-480131", "approved", "Harbor Light", "Priya Raman", iso(9), "17:30", "2.5", "4", "$612.00",
                stamp(-1, "22:40:03")),
            "published",
        ),
        SampleBooking(
            "csv",
            row("BS-480136", "approved", "Pacific Dawn", "Aiko Tanaka", us(12), "9:00 AM", "6", "12", "$2,150.00",
                stamp(-1, "15:20:00"), captain="Hank Morrow"),
            "published",
        ),
        SampleBooking(
            "csv",
            row("BS-480140", "inquiry", "Sea Breeze", "Tom Becker", iso(18), "11:00", "2", "3", "0",
                stamp(-1, "08:15:30")),
            "recorded",
        ),
        SampleBooking(
            "csv",
            row("BS-480142", "pre-approved", "Marina Star", "Grace Holloway", us(21), "6:00 PM", "3", "8", "975.00",
                stamp(0, "01:02:03")),
            "recorded",
        ),
        SampleBooking(
            "csv",
            row("BS-480095", "completed", "Harbor Light", "Daniel Kim", iso(-10), "13:00", "4", "7", "$1,020.00",
                stamp(-9, "02:30:00")),
            "past",
        ),
        SampleBooking(
            "csv",
            row("BS-480150", "approved", "Pacific Dawn", "Sofia Lindqvist", iso(14), "12:00", "3", "5", "$780.00",
                stamp(-4, "16:00:00")),
            "cancelled",
        ),
        SampleBooking(
            "csv",
            row("BS-480155", "approved", "Sea Breeze", "Omar Haddad", iso(7), "15:00", "2", "0", "$450.00",
                stamp(-1, "19:45:10")),
            "quarantined",
            bad_field="Passengers",
        ),
        SampleBooking(
            "csv",
            row("BS-480158", "approved", "Marina Star", "Emma Wilson", f"{t.year + 1}-02-30", "10:30", "3", "9",
                "$900.00", stamp(-1, "20:05:55")),
            "quarantined",
            bad_field="Trip Date",
        ),
        SampleBooking(
            "json",
            row("BS-480150", "cancelled", "Pacific Dawn", "Sofia Lindqvist", iso(14), "12:00", "3", "5", "$780.00",
                stamp(-1, "18:30:00", "-08:00")),
            "cancelled",
        ),
        SampleBooking(
            "json",
            row("BS-480163", "approved", "Sea Breeze", "Liam O'Brien", iso(25), "8:30 AM", "2.5", "2", "975.00",
                stamp(0, "03:10:00"), phone="+1 760 555 0199"),
            "published",
        ),
        SampleBooking(
            "json",
            row("BS-480167", "confirmed", "Harbor Light", "Lucas Moreau", us(30), "16:00", "1.5", "4", "$385.50",
                stamp(0, "04:44:44")),
            "published",
        ),
    ]
    # fmt: on


def _json_record(values: Mapping[str, Any]) -> dict[str, Any]:
    # JSON exports use snake_case keys and real numbers where Boatsetter has them.
    record: dict[str, Any] = {key.lower().replace(" ", "_"): value for key, value in values.items()}
    record["passengers"] = int(record["passengers"])
    hours = float(record["duration_hours"])
    record["duration_hours"] = int(hours) if hours.is_integer() else hours
    if not record["captain"]:
        del record["captain"]
    return record


def sample_exports(today: date | None = None) -> dict[str, bytes]:
    """The sample export files by name: one Boatsetter CSV (UTF-8 with BOM, CRLF) and one JSON update file."""
    t = today or today_in_san_diego()
    rows = sample_bookings(t)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=BOATSETTER_HEADER, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writeheader()
    writer.writerows(r.values for r in rows if r.file == "csv")
    updates = {"bookings": [_json_record(r.values) for r in rows if r.file == "json"]}
    return {
        CSV_NAME.format(today=t.isoformat()): text.getvalue().encode("utf-8-sig"),
        JSON_NAME.format(today=t.isoformat()): (json.dumps(updates, indent=2) + "\n").encode(),
    }


def sample_variable(
    distribution_id: str,
    exports_uri: str | None = None,
    *,
    quarantine_uri: str | None = None,
    guest_base_url: str | None = None,
) -> dict[str, Any]:
    """The ``charter_pipeline`` Variable for the local stack: the contract's defaults plus a crew roster.

    Like a real deployment it sets only what differs: keys left as None keep the contract's default.
    """
    variable: dict[str, Any] = {"crew_roster": copy.deepcopy(SAMPLE_ROSTER)}
    chosen = {
        "cloudfront_distribution_id": distribution_id,
        "exports_uri": exports_uri,
        "quarantine_uri": quarantine_uri,
        "guest_base_url": guest_base_url,
    }
    variable.update({key: value for key, value in chosen.items() if value})
    return variable


def write_samples(target: str | Path, *, today: date | None = None, s3_client: Any = None) -> list[str]:
    """Write the sample exports under ``target`` and return where each file went.

    ``target`` is ``s3://bucket/prefix/`` (written with ``s3_client``, a boto3 S3 client), ``file:///folder/``
    or a local folder path. The CSV goes first, so its last-modified time is never later than the JSON's.
    """
    files = sample_exports(today)
    location = str(target)
    written: list[str] = []
    if location.startswith("s3://"):
        if s3_client is None:
            raise ValueError("write_samples: an s3:// target needs s3_client")
        parsed = urlparse(location)
        prefix = parsed.path.lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        for name, data in files.items():
            content_type = "text/csv; charset=utf-8" if name.endswith(".csv") else "application/json"
            s3_client.put_object(Bucket=parsed.netloc, Key=prefix + name, Body=data, ContentType=content_type)
            written.append(f"s3://{parsed.netloc}/{prefix}{name}")
        return written
    folder = Path(unquote(urlparse(location).path)) if location.startswith("file://") else Path(location)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
        written.append(str(folder / name))
    return written
