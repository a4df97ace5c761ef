"""Generated Boatsetter exports for the benchmarks: realistic values, seeded, so every run reads the same bytes.

Rows look like what Boatsetter sends (sandbox/samples.py shows the real shapes): both date and time styles, money
written with and without ``$`` and thousands separators, most charters approved, some cancelled or never more
than an inquiry, some with a booked captain. ``BookingMix`` adds the awkward part of a large export: later
snapshots of bookings already in the file and rows that fail validation.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sandbox.samples import BOATSETTER_HEADER, SAMPLE_ROSTER

# Names crew will see: none holds a word the SCC notes scrub reads as money (cost, pay, fee, rate, price...).
FIRST_NAMES = (
    "Jane", "Miguel", "Priya", "Aiko", "Tom", "Grace", "Daniel", "Sofia", "Omar", "Emma", "Liam", "Lucas", "Noah",
    "Olivia", "Ava", "Mateo", "Chloe", "Ethan", "Hana", "Ravi", "Zoe", "Isaac", "Leah", "Marco", "Nina", "Owen",
    "Ruby", "Sam", "Tara", "Victor", "Yuki", "Elena",
)  # fmt: skip
LAST_NAMES = (
    "Doe", "Santos", "Raman", "Tanaka", "Becker", "Holloway", "Kim", "Lindqvist", "Haddad", "Wilson", "Moreau",
    "Nguyen", "Garcia", "Okafor", "Schmidt", "Rossi", "Dubois", "Novak", "Larsen", "Silva", "Cohen", "Ito", "Walsh",
    "Reyes", "Murphy", "Fischer", "Khan", "Olsen", "Park", "Lopez", "O'Brien",
)  # fmt: skip
ROSTER_BOATS = tuple(name for name in SAMPLE_ROSTER if name != "default")
BOATS = (*ROSTER_BOATS, "Sea Breeze", "Pacific Dawn", "Coronado Queen", "Point Loma Spirit", "Mission Bay Belle")
CAPTAINS = ("Hank Morrow", "Rosa Alvarez", "Eli Sandoval", "Dana Whitfield")
HOURS = ("2", "2.5", "3", "3", "4", "4", "6", "8")
START_TIMES = ("08:00", "9:00 AM", "10:00", "10:30", "11:00", "12:00", "1:30 PM", "14:00", "15:00", "5:30 PM", "18:00")
# Weighted like a year of a small charter business: mostly charters, some never more than an inquiry.
STATUSES = (("approved", 60), ("Confirmed", 12), ("completed", 8), ("cancelled", 7), ("inquiry", 6),
            ("pre-approved", 3), ("payment held", 2), ("expired", 2))  # fmt: skip
# Each kind of bad row a real export has held, as (column, bad value).
BAD_CELLS = (
    ("Passengers", "0"),
    ("Trip Date", "2026-02-30"),
    ("Status", "pending review"),
    ("Gross", "USD 12"),
    ("Renter Name", ""),
    ("Duration Hours", "-3"),
    ("Start Time", "25:00"),
)


@dataclass(frozen=True)
class BookingMix:
    """What a generated export holds besides one clean row per booking (fractions of all rows)."""

    later_snapshots: float = 0.05  # rows that repeat a booking already in the file with a newer Updated At
    bad_rows: float = 0.01  # rows that fail validation
    days_back: int = 365  # trip dates from this many days ago...
    days_ahead: int = 365  # ...to this many days ahead


def booking_id(number: int) -> str:
    return f"BS-{700_000 + number}"


def _money(rng: random.Random, cents: int) -> str:
    amount = f"{cents // 100:,}.{cents % 100:02d}"
    style = rng.random()
    if style < 0.5:
        return f"${amount}"
    if style < 0.8:
        return amount.replace(",", "")
    return f"${amount.replace(',', '')}"


def booking_row(
    rng: random.Random, number: int, today: date, mix: BookingMix, *, status: str | None = None
) -> dict[str, str]:
    """One clean row for booking ``number``."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    trip = today + timedelta(days=rng.randint(-mix.days_back, mix.days_ahead))
    hours = rng.choice(HOURS)
    if status is None:
        status = rng.choices([s for s, _ in STATUSES], weights=[w for _, w in STATUSES])[0]
        if status == "completed" and trip >= today:
            status = "approved"
    updated = datetime.combine(trip - timedelta(days=rng.randint(1, 60)), datetime.min.time(), UTC)
    updated += timedelta(seconds=rng.randint(0, 86_399))
    return {
        "Booking ID": booking_id(number),
        "Status": status,
        "Boat": rng.choice(BOATS),
        "Renter Name": f"{first} {last}",
        "Renter Email": f"{first}.{last}".lower().replace("'", "") + f"{number % 97}@example.com",
        "Renter Phone": f"+1 619 555 {rng.randint(0, 9999):04d}" if rng.random() < 0.7 else "",
        "Trip Date": trip.isoformat() if rng.random() < 0.6 else trip.strftime("%m/%d/%Y"),
        "Start Time": rng.choice(START_TIMES),
        "Duration Hours": hours,
        "Passengers": str(rng.randint(1, 12) if rng.random() < 0.9 else rng.randint(13, 60)),
        "Captain": rng.choice(CAPTAINS) if rng.random() < 0.3 else "",
        "Gross": _money(rng, int(float(hours) * rng.randint(18_000, 45_000))),
        "Updated At": updated.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def later_snapshot(rng: random.Random, row: dict[str, str]) -> dict[str, str]:
    """The same booking exported again later: a newer Updated At and, usually, something changed."""
    later = dict(row)
    stamp = datetime.fromisoformat(row["Updated At"].replace("Z", "+00:00")) + timedelta(hours=rng.randint(1, 240))
    later["Updated At"] = stamp.isoformat(timespec="seconds").replace("+00:00", "Z")
    change = rng.random()
    if change < 0.4:
        later["Passengers"] = str(max(1, int(row["Passengers"]) + rng.choice((-2, -1, 1, 2))))
    elif change < 0.6:
        later["Status"] = "cancelled"
    elif change < 0.8:
        later["Start Time"] = rng.choice(START_TIMES)
    return later


def export_rows(count: int, *, today: date, mix: BookingMix | None = None, seed: int = 2026) -> list[dict[str, str]]:
    """``count`` rows: one per booking, later snapshots of earlier ones, and bad rows, shuffled a little."""
    mix = mix or BookingMix()
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    for _ in range(count):
        pick = rng.random()
        if rows and pick < mix.later_snapshots:
            rows.append(later_snapshot(rng, rng.choice(rows[-5000:])))
        elif pick < mix.later_snapshots + mix.bad_rows:
            row = booking_row(rng, len(rows), today, mix)
            column, value = rng.choice(BAD_CELLS)
            row[column] = value
            rows.append(row)
        else:
            rows.append(booking_row(rng, len(rows), today, mix))
    return rows


def upcoming_charters(count: int, *, today: date, first_number: int = 0, seed: int = 7) -> list[dict[str, str]]:
    """``count`` approved charters 2 to 60 days ahead on the roster's boats: every one must be published."""
    rng = random.Random(seed + first_number)
    mix = BookingMix(later_snapshots=0, bad_rows=0, days_back=-2, days_ahead=60)
    rows = [booking_row(rng, first_number + n, today, mix, status="approved") for n in range(count)]
    for row in rows:
        row["Boat"] = rng.choice(ROSTER_BOATS)
    return rows


def csv_bytes(rows: Sequence[dict[str, str]], *, bom: bool = True) -> bytes:
    """A Boatsetter CSV: their header, CRLF, UTF-8 with a byte-order mark as Excel saves it."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=BOATSETTER_HEADER, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode("utf-8-sig" if bom else "utf-8")
