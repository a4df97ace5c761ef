"""The manual trigger's ``booking`` parameter: the form the Airflow UI shows under "Trigger DAG".

Kept permissive on purpose: the schema describes the fields for the form, while ``booking.parse_booking`` is the one
validator, so a bad booking is refused by the first task with a line that names the field (CONTRACT.md section 1)
instead of a bare JSON-schema error at trigger time.
"""

from __future__ import annotations

from typing import Any

_TEXT = {"type": ["string", "null"]}

BOOKING_FIELDS: dict[str, dict[str, Any]] = {
    "booking_id": {**_TEXT, "description": "Boatsetter's booking id (required)"},
    "status": {**_TEXT, "description": "approved, confirmed, cancelled, inquiry, ... (required)"},
    "boat": {**_TEXT, "description": "Boat name (required)"},
    "renter_name": {**_TEXT, "description": "Guest's full name (required)"},
    "renter_email": {**_TEXT, "description": "Internal only"},
    "renter_phone": {**_TEXT, "description": "Internal only"},
    "trip_date": {**_TEXT, "description": "YYYY-MM-DD or MM/DD/YYYY (required)"},
    "start_time": {**_TEXT, "description": "HH:MM (24 h) or h:mm AM/PM, local time (required)"},
    "duration_hours": {"type": ["string", "number", "null"], "description": "Hours, more than 0, at most 24"},
    "passengers": {"type": ["string", "integer", "null"], "description": "1 to 150 (required)"},
    "captain": {**_TEXT, "description": "Captain the renter booked, if any"},
    "gross": {"type": ["string", "number", "null"], "description": "Revenue in USD, e.g. 840.75 (required)"},
    "updated_at": {**_TEXT, "description": "ISO 8601, optional"},
}

BOOKING_PARAM_SCHEMA: dict[str, Any] = {
    "type": ["null", "object"],
    "title": "One booking to process now (leave empty to poll the exports)",
    "description": "Fields as in the Boatsetter export, snake_case. Processes exactly this booking and skips polling.",
    "properties": BOOKING_FIELDS,
}
