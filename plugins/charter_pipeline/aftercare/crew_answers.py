"""Crew answers before a charter: whose answers to read, what situation they make, and which alert it calls for.

Pure: ledger records and SCC's event in, decisions out (CONTRACT.md section 11). A situation is the set of
(crew member, answer) pairs; one alert per booking per distinct situation, and an all-clear once everyone has
accepted after such an alert. The ledger remembers which alert ids were delivered and which crew alert is still
open, so a later run that finds the same answers sends nothing.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from charter_pipeline.alerts import Alert, AlertKind, alert_id
from charter_pipeline.ledger import LedgerRecord


class CrewResponse(StrEnum):
    """A crew member's answer to SCC's magic link, as SCC spells it (CONTRACT.md section 11)."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"


RESPONSES = tuple(CrewResponse)

# What the desk should do, per kind: the last line of the alert.
_WHAT_TO_DO = {
    AlertKind.CREW_DECLINED: (
        "Find a replacement and assign them in ShipCaptainCrew (the export's next change carries them)."
    ),
    AlertKind.CREW_PENDING: (
        "Chase the crew members still pending: their magic link is in the SCC e-mail they received."
    ),
    AlertKind.CREW_ALL_CLEAR: "Nothing to do: every crew member has accepted.",
}
_HEADLINES = {
    AlertKind.CREW_DECLINED: "Crew declined",
    AlertKind.CREW_PENDING: "Crew not confirmed yet",
    AlertKind.CREW_ALL_CLEAR: "Crew all clear",
}


@dataclass(frozen=True)
class CrewAnswer:
    """One crew member's answer as SCC gives it. No e-mail address: alerts and the ledger never hold one."""

    name: str
    role: str
    response: CrewResponse

    @property
    def line(self) -> str:
        """The situation line: ``Sam Lee (crew): declined``."""
        return f"{self.name} ({self.role}): {self.response}" if self.role else f"{self.name}: {self.response}"


def answers_from_event(event: Mapping[str, Any]) -> list[CrewAnswer]:
    """The crew's answers from SCC's ``GET /events/{event_id}``; an answer SCC does not know yet is pending."""
    crew = event.get("crew")
    answers: list[CrewAnswer] = []
    for member in crew if isinstance(crew, list) else []:
        if not isinstance(member, Mapping):
            continue
        name = " ".join(str(member.get("name") or "").split()) or "(unnamed)"
        response = str(member.get("response") or CrewResponse.PENDING).strip().lower()
        answers.append(
            CrewAnswer(
                name,
                str(member.get("role") or "").strip(),
                CrewResponse(response) if response in RESPONSES else CrewResponse.PENDING,
            )
        )
    return answers


def answers_json(answers: Iterable[CrewAnswer]) -> str:
    """How the ledger keeps the last answers read (for the operator's page): JSON, names and answers only."""
    return json.dumps([asdict(answer) for answer in answers], sort_keys=True, separators=(",", ":"))


def needs_crew_check(record: LedgerRecord, now: datetime, confirm_hours: int) -> bool:
    """A published, not cancelled charter with an SCC event, starting after ``now`` and within ``confirm_hours``."""
    booking = record.booking
    if booking is None or not booking.is_charter or not record.scc_event_id or record.retired:
        return False
    return now < booking.start <= now + timedelta(hours=confirm_hours)


def situation(answers: Iterable[CrewAnswer]) -> list[str]:
    """The situation: the sorted (crew member, answer) lines."""
    return sorted(answer.line for answer in answers)


def crew_alert(
    record: LedgerRecord, answers: list[CrewAnswer], tz: ZoneInfo, *, delivered: Collection[str], open_alert: str
) -> Alert | None:
    """The alert these answers call for, or None when the desk already has it (or needs nothing).

    Anyone declined: ``crew_declined``; else anyone pending: ``crew_pending``; everyone accepted after a crew
    alert (``open_alert``): one ``crew_all_clear`` whose id also names the alert it resolves, so a later decline
    and a later all-clear make new alerts. No crew at all is not a situation SCC can answer: nothing.
    """
    if not answers or record.booking is None:
        return None
    lines = situation(answers)
    responses = {answer.response for answer in answers}
    if CrewResponse.DECLINED in responses or CrewResponse.PENDING in responses:
        kind = AlertKind.CREW_DECLINED if CrewResponse.DECLINED in responses else AlertKind.CREW_PENDING
        wanted = alert_id(kind, record.booking_id, lines)
    elif open_alert:
        kind = AlertKind.CREW_ALL_CLEAR
        wanted = alert_id(kind, record.booking_id, [*lines, f"resolves {open_alert}"])
    else:
        return None
    if wanted in delivered:
        return None
    return Alert(kind, record.booking_id, alert_text(kind, record, answers, tz), wanted)


def alert_text(kind: AlertKind, record: LedgerRecord, answers: Iterable[CrewAnswer], tz: ZoneInfo) -> str:
    """Readable lines: booking id, boat, local date and start time, each crew member's answer, what to do."""
    booking = record.booking
    assert booking is not None
    start = booking.start.astimezone(tz)
    hour = start.hour % 12 or 12
    when = f"{start:%a} {start.day} {start:%b %Y}, {hour}:{start.minute:02d} {'AM' if start.hour < 12 else 'PM'}"
    lines = [f"{_HEADLINES[kind]}: booking {booking.booking_id}, {booking.boat}, {when} ({tz.key})"]
    lines += [f"- {answer.line}" for answer in sorted(answers, key=lambda a: (a.role != "captain", a.name))]
    lines.append(_WHAT_TO_DO[kind])
    return "\n".join(lines)
