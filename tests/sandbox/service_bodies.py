"""Valid request bodies for the JADA and SCC stand-ins, and calls to SCC's, shared by the sandbox tests (a helper
module, no tests here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import requests

from sandbox.scc import DEFAULT_SERVICE_KEY

if TYPE_CHECKING:
    from sandbox.stack import SandboxStack


def calendar_entry(booking_id: str = "BS-1001", **changes: Any) -> dict[str, Any]:
    """A valid POST /calendar body (the operator's worked example: 3 h grossing 840.75)."""
    entry: dict[str, Any] = {
        "external_id": f"boatsetter:{booking_id}",
        "event_type": "charter",
        "source": "boatsetter",
        "status": "confirmed",
        "charter_date": "2026-12-04",
        "start": "2026-12-04T10:00:00-08:00",
        "end": "2026-12-04T13:00:00-08:00",
        "duration_hours": 3,
        "boat": "Queen of San Diego",
        "guest_name": "Jane Doe",
        "party_size": 6,
        "captain": "Alex Rivera",
        "crew_assignments": [
            {"role": "captain", "name": "Alex Rivera", "hours": 3, "hourly_rate": 50.00, "cost": 150.00},
            {"role": "crew", "name": "Sam Lee", "hours": 5, "hourly_rate": 25.00, "cost": 125.00},
        ],
        "gross_revenue": 840.75,
        "crew_cost": 250.00,
        "captain_cost": 150.00,
        "port_fee_percent": 18,
        "port_fee": 151.34,
        "net_revenue": 289.41,
        "guest_url": "https://queenofsandiego.com/g/ABCDEFGHJKMNP",
        "notes": "Birthday party",
    }
    entry.update(changes)
    return entry


def scc_event(booking_id: str = "BS-1001", **changes: Any) -> dict[str, Any]:
    """A valid POST /events body: three crew, one of them without an e-mail address."""
    event: dict[str, Any] = {
        "external_ref": f"boatsetter:{booking_id}",
        "title": "Charter: Queen of San Diego",
        "date": "2026-12-04",
        "start": "2026-12-04T10:00:00-08:00",
        "end": "2026-12-04T13:00:00-08:00",
        "boat": "Queen of San Diego",
        "guest": {"name": "Jane D.", "party_size": 6},
        "crew": [
            {"name": "Alex Rivera", "email": "alex@example.com", "role": "captain"},
            {"name": "Sam Lee", "email": "sam@example.com", "role": "crew"},
            {"name": "Kai Moana", "email": "", "role": "crew"},
        ],
        "description": "Three hours on the bay",
        "checklist": ["Fuel check", "Life jackets for 6"],
        "notes": "Guest celebrates a birthday\nBring ice",
    }
    event.update(changes)
    return event


# Calls to the SCC stand-in, as the sandbox tests make them.
TIMEOUT = 5


def call(
    stack: SandboxStack,
    method: str,
    path: str,
    *,
    key: str | None = DEFAULT_SERVICE_KEY,
    base: str | None = None,
    **kwargs: Any,
) -> requests.Response:
    """One request to the SCC stand-in with its service key (or ``key``, None for none)."""
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return requests.request(method, (base or stack.scc_url) + path, headers=headers, timeout=TIMEOUT, **kwargs)


def create(stack: SandboxStack, **changes: Any) -> str:
    """POST a valid event (``scc_event(**changes)``) and return its id."""
    answer = call(stack, "POST", "/events", json=scc_event(**changes))
    assert answer.status_code == 201, answer.text
    event_id: str = answer.json()["event_id"]
    return event_id
