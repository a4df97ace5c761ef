"""The Booking record: one Boatsetter booking snapshot, typed and validated.

A Booking is plain data. It travels between tasks as ``to_dict()`` (JSON-safe, so it fits an XCom) and is
stored in the ledger the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
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
        tz = self.start.tzinfo
        utc_end = self.start.astimezone(ZoneInfo("UTC")) + timedelta(hours=float(self.duration_hours))
        return utc_end.astimezone(tz)

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
            updated_at=datetime.fromisoformat(updated) if updated else None,
        )


def fingerprint(booking: Booking) -> str:
    """Hash of everything the pipeline uses from a booking.

    ``updated_at`` is left out on purpose: the same snapshot re-exported later is not a change. Statuses that
    mean the same to the pipeline (approved, confirmed, in progress, completed) hash the same, so a charter
    moving to "completed" sends nobody an e-mail.
    """
    data = booking.to_dict()
    data.pop("updated_at")
    if booking.is_charter:
        data["status"] = "approved"
    elif booking.is_cancelled:
        data["status"] = "cancelled"
    data["start"] = booking.start.isoformat()
    data["duration_hours"] = str(booking.duration_hours.normalize())
    data["gross"] = str(booking.gross.quantize(Decimal("0.01")))
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:32]
