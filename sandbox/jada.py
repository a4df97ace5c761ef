"""A stand-in for the JADA internal calendar (CONTRACT.md section 5), strict about what it accepts.

- Every call needs ``X-Dashboard-Token: <token>``, else 401.
- ``POST /calendar`` checks every required field and its type (422 naming the field), then stores a new entry
  and answers 201 ``{"id": "cal_..."}``. Not idempotent: two POSTs make two entries, as the real one does.
- ``GET /calendar?external_id=...`` answers ``{"items": [...]}``; ``PATCH /calendar/{id}`` merges fields
  (404 for an unknown id). Any other route is 404.

Run alone: ``python -m sandbox.jada --port 5056`` (token from ``SANDBOX_DASHBOARD_TOKEN``).
"""

from __future__ import annotations

import argparse
import hmac
import os
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from sandbox.faults import (
    Answer,
    Check,
    FieldProblem,
    SandboxService,
    ServiceRequest,
    check_fields,
    external_id,
    http_url,
    iso_date,
    list_of,
    money,
    number,
    offset_datetime,
    one_of,
    record,
    serve_until_signalled,
    text,
    whole,
)

DEFAULT_DASHBOARD_TOKEN = "sandbox-dashboard-token-7Q2"
TOKEN_HEADER = "X-Dashboard-Token"

CREW_ASSIGNMENT: dict[str, Check] = {
    "role": text(),
    # An empty roster leaves a seat unnamed; a calendar records that rather than refusing the charter.
    "name": text(allow_empty=True),
    "hours": number(at_least=0, at_most=48),
    "hourly_rate": money(),
    "cost": money(),
}

CALENDAR_FIELDS: dict[str, Check] = {
    "external_id": external_id("boatsetter:"),
    "event_type": one_of("charter"),
    "source": one_of("boatsetter"),
    "status": one_of("confirmed", "cancelled"),
    "charter_date": iso_date,
    "start": offset_datetime,
    "end": offset_datetime,
    "duration_hours": number(above=0, at_most=24),
    "boat": text(),
    "guest_name": text(),
    "party_size": whole(1, 150),
    "captain": text(allow_empty=True),
    "crew_assignments": list_of(record(CREW_ASSIGNMENT)),
    "gross_revenue": money(),
    "crew_cost": money(),
    "captain_cost": money(),
    "port_fee_percent": number(at_least=0, at_most=100),
    "port_fee": money(),
    # Net is negative when a charter grosses less than it costs (a comped trip); the calendar shows that.
    "net_revenue": money(allow_negative=True),
    "guest_url": http_url,
    "notes": text(allow_empty=True, max_length=20000),
}


def check_timing(entry: dict[str, Any]) -> None:
    """``end`` after ``start``, and ``charter_date`` the local date of ``start``."""
    start = datetime.fromisoformat(entry["start"])
    end = datetime.fromisoformat(entry["end"])
    if end <= start:
        raise FieldProblem("end", f"{entry['end']} must be after start {entry['start']}")
    if start.date().isoformat() != entry["charter_date"]:
        raise FieldProblem("charter_date", f"{entry['charter_date']} is not the date of start {entry['start']}")


class JadaCalendar(SandboxService):
    """The JADA calendar stand-in. ``entries()`` and ``state()`` show what it holds."""

    name = "jada"

    def __init__(self, *, token: str = DEFAULT_DASHBOARD_TOKEN, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self._token = token
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = {}

    def entries(self, external_id: str | None = None) -> list[dict[str, Any]]:
        """Stored entries in creation order, optionally only those for one ``external_id``."""
        with self._lock:
            return [
                dict(entry)
                for entry in self._entries.values()
                if external_id is None or entry.get("external_id") == external_id
            ]

    def stored(self) -> dict[str, Any]:
        return {"entries": self.entries()}

    def forget(self) -> None:
        with self._lock:
            self._entries.clear()

    def answer(self, request: ServiceRequest) -> Answer:
        sent = request.headers.get(TOKEN_HEADER)
        if not sent:
            return Answer.message(401, f"missing {TOKEN_HEADER} header")
        if not hmac.compare_digest(sent.encode(), self._token.encode()):
            return Answer.message(401, f"invalid {TOKEN_HEADER}")

        parts = request.path.strip("/").split("/")
        if parts[0] != "calendar" or len(parts) > 2:
            return Answer.message(404, f"no route {request.method} {request.path}")
        if len(parts) == 1:
            if request.method == "POST":
                return self._create(request)
            if request.method == "GET":
                wanted = request.query.get("external_id")
                return Answer.json(200, {"items": self.entries(wanted if isinstance(wanted, str) else None)})
            return Answer.message(405, f"{request.method} is not allowed on /calendar")
        if request.method == "PATCH":
            return self._update(parts[1], request)
        return Answer.message(405, f"{request.method} is not allowed on /calendar/{{id}}")

    def _create(self, request: ServiceRequest) -> Answer:
        body = request.json_object()
        check_fields(body, CALENDAR_FIELDS, partial=False)
        check_timing(body)
        entry_id = f"cal_{uuid.uuid4().hex[:12]}"
        now = datetime.now(UTC).isoformat()
        with self._lock:
            self._entries[entry_id] = {**body, "id": entry_id, "created_at": now, "updated_at": now}
        return Answer.json(201, {"id": entry_id})

    def _update(self, entry_id: str, request: ServiceRequest) -> Answer:
        with self._lock:
            known = entry_id in self._entries
        if not known:
            return Answer.message(404, f"no calendar entry {entry_id}")
        body = request.json_object()
        if "id" in body and body["id"] != entry_id:
            raise FieldProblem("id", "cannot be changed")
        check_fields(body, CALENDAR_FIELDS, partial=True)
        with self._lock:
            current = self._entries.get(entry_id)
            if current is None:  # forgotten by a reset meanwhile
                return Answer.message(404, f"no calendar entry {entry_id}")
            merged = {**current, **body, "id": entry_id, "updated_at": datetime.now(UTC).isoformat()}
            check_timing(merged)
            self._entries[entry_id] = merged
        return Answer.json(200, merged)


def main(argv: list[str] | None = None) -> None:
    """``python -m sandbox.jada``: serve the calendar until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5056)
    args = parser.parse_args(argv)
    token = os.environ.get("SANDBOX_DASHBOARD_TOKEN", DEFAULT_DASHBOARD_TOKEN)
    calendar = JadaCalendar(token=token, host=args.host, port=args.port).start()
    serve_until_signalled([calendar], f"JADA calendar sandbox on {calendar.url}")


if __name__ == "__main__":
    main()
