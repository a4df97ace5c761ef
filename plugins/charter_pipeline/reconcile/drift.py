"""What differs between what the pipeline last sent and what each place holds now (CONTRACT.md section 12).

Pure: ledger records and the services' answers in, readable differences out. ``reconcile/tasks.py`` does the
reading; ``reconcile/repairs.py`` the two repairs. What the pipeline last sent is rebuilt from the ledger's
snapshot with the very functions publishing uses, and trusted only when it hashes to what the ledger recorded
as sent: a settings change since (rates, roster, templates) leaves the pipeline unable to say what it sent, and
then only what the snapshot alone decides is compared, so a new rate card never reads as someone's edit.

Difference lines never hold an amount: they go into alerts, which never carry money (CONTRACT.md section 11).
A money field that differs is named, not quoted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from charter_pipeline.money_words import holds_amount
from charter_pipeline.service_state import ServiceStatus, payload_hash

if TYPE_CHECKING:
    from charter_pipeline.booking import Booking
    from charter_pipeline.config import PipelineConfig
    from charter_pipeline.ledger import LedgerRecord

# Places, in the order the report lists them.
JADA_ENTRY = "JADA entry"
SCC_EVENT = "SCC event"
SCC_ITEM = "SCC item"
GUEST_PAGE = "guest page"
PLACES = (JADA_ENTRY, SCC_EVENT, SCC_ITEM, GUEST_PAGE)

# The calendar's money fields (CONTRACT.md section 5), compared as decimals: 250 and "250.00" are the same.
MONEY_FIELDS = ("gross_revenue", "crew_cost", "captain_cost", "port_fee_percent", "port_fee", "net_revenue")
# What the snapshot alone decides, whatever the settings: compared even when the rest cannot be.
SNAPSHOT_MONEY_FIELDS = ("gross_revenue",)

# Why a published booking is not compared (the summary says so rather than staying silent).
SKIP_ENDED = "ended: nothing left to check"
SKIP_RETIRED = "guest page retired"
SKIP_PENDING = "pending: the ledger holds a snapshot not yet fully published; the next poll carries it out"
SKIP_NO_SNAPSHOT = "no snapshot in the ledger"


@dataclass(frozen=True)
class Difference:
    """One thing a place holds that the pipeline did not send. ``repair`` names the repair when it is one the
    reconcile run makes by itself (a re-scrub, a re-upload); empty means report it and leave it alone."""

    place: str
    what: str
    repair: str = ""

    @property
    def line(self) -> str:
        return f"{self.place}: {self.what}"


@dataclass(frozen=True)
class Sent:
    """What the pipeline last sent to one place, rebuilt from the snapshot. ``exact`` is False when the rebuilt
    payload does not hash to what the ledger recorded as sent (settings changed since publishing)."""

    payload: Mapping[str, Any]
    exact: bool


def skip_reason(record: LedgerRecord, now: datetime, *, retired: bool = False) -> str | None:
    """Why this booking is not compared now, or None to compare it.

    A snapshot newer than what was last published is pending work, not drift: the publishing DAG is about to
    change those places itself, so comparing would report the pipeline's own next step as someone's edit.
    """
    if retired:
        return SKIP_RETIRED
    booking = record.booking
    if booking is None:
        return SKIP_NO_SNAPSHOT
    if booking.end <= now:
        return SKIP_ENDED
    if not record.in_sync():
        return SKIP_PENDING
    return None


def sent_calendar(record: LedgerRecord, booking: Booking, config: PipelineConfig) -> Sent:
    """The calendar entry payload the publishing step sent for this snapshot (publishing/booking_steps.py)."""
    from charter_pipeline.calendar_entry import calendar_entry_payload
    from charter_pipeline.crew import assigned_crew
    from charter_pipeline.money import compute_financials

    payload = calendar_entry_payload(
        booking,
        compute_financials(booking, config.rates),
        assigned_crew(booking, config),
        guest_url=config.guest_url(record.session_id) if record.session_id else "",
        status=ServiceStatus.of(booking),
        config=config,
    )
    return Sent(payload, payload_hash(payload) == record.calendar_hash)


def sent_scc_event(record: LedgerRecord, booking: Booking, config: PipelineConfig) -> Sent:
    """The SCC event the publishing step sent for this snapshot; for a cancelled booking, the cancellation."""
    from charter_pipeline.crew import assigned_crew, scc_event_payload

    if not booking.is_charter:
        cancellation = {"status": ServiceStatus.CANCELLED}
        return Sent(cancellation, payload_hash(cancellation) == record.scc_hash)
    payload = scc_event_payload(booking, config, assigned_crew(booking, config))
    return Sent(payload, payload_hash(payload) == record.scc_hash)


def find(items: Iterable[Mapping[str, Any]], id_key: str, known_id: str) -> Mapping[str, Any] | None:
    """The item the ledger knows, by id, among what a lookup by external id found."""
    return next((item for item in items if str(item.get(id_key)) == known_id), None)


def calendar_differences(sent: Sent, entries: Sequence[Mapping[str, Any]], calendar_id: str) -> list[Difference]:
    """The JADA entry against what was sent: exists, status, start, end, party size, money fields."""
    entry = find(entries, "id", calendar_id)
    if entry is None:
        others = sorted(str(item.get("id")) for item in entries)
        tail = f"; the booking's external id is now on {', '.join(others)}" if others else ""
        return [Difference(JADA_ENTRY, f"{calendar_id} is gone (deleted at JADA){tail}")]
    found: list[Difference] = []
    place = f"{JADA_ENTRY} {calendar_id}"
    payload = sent.payload
    if entry.get("status") != payload["status"]:
        found.append(Difference(place, _was(("status", entry.get("status"), payload["status"]))))
    for name in ("start", "end"):
        if not same_instant(entry.get(name), payload[name]):
            found.append(Difference(place, _was((name, entry.get(name), payload[name]))))
    if not same_number(entry.get("party_size"), payload["party_size"]):
        found.append(Difference(place, _was(("party_size", entry.get("party_size"), payload["party_size"]))))
    for name in MONEY_FIELDS if sent.exact else SNAPSHOT_MONEY_FIELDS:
        if not same_number(entry.get(name), payload[name]):
            state = "is missing" if entry.get(name) in (None, "") else "differs from what the pipeline sent"
            found.append(Difference(place, f"{name} {state}"))
    return found


def scc_event_differences(sent: Sent, events: Sequence[Mapping[str, Any]], event_id: str) -> list[Difference]:
    """The SCC event against what was sent: exists, status, start, end, crew names."""
    event = find(events, "event_id", event_id)
    if event is None:
        others = sorted(str(item.get("event_id")) for item in events)
        tail = f"; the booking's external ref is now on {', '.join(others)}" if others else ""
        return [Difference(SCC_EVENT, f"{event_id} is gone (deleted at SCC){tail}")]
    place = f"{SCC_EVENT} {event_id}"
    payload = sent.payload
    status = str(event.get("status") or "")
    if payload.get("status") == ServiceStatus.CANCELLED:
        # A cancellation is all that was sent: the rest is what SCC held before it.
        cancelled = status == ServiceStatus.CANCELLED
        return [] if cancelled else [Difference(place, _was(("status", status, ServiceStatus.CANCELLED)))]
    found: list[Difference] = []
    if status == ServiceStatus.CANCELLED:
        # SCC keeps its own words for a live event ("scheduled", "confirmed"); only a cancellation is drift.
        found.append(Difference(place, "status is cancelled, the pipeline never cancelled it"))
    for name in ("start", "end"):
        if not same_instant(event.get(name), payload[name]):
            found.append(Difference(place, _was((name, event.get(name), payload[name]))))
    if sent.exact:
        held, wanted = crew_names(event.get("crew")), crew_names(payload.get("crew"))
        if held != wanted:
            now_on = ", ".join(held) or "none"
            now_on = "edited" if holds_amount(now_on) else now_on
            found.append(Difference(place, f"crew are {now_on}, the pipeline sent {', '.join(wanted)}"))
    return found


def scrub_difference(removed_attributes: Sequence[str], removed_lines: int) -> Difference | None:
    """What a re-scrub found and removed from the SCC item, or None when it was still clean."""
    if not removed_attributes and not removed_lines:
        return None
    parts = []
    if removed_attributes:
        parts.append(f"attributes {', '.join(removed_attributes)}")
    if removed_lines:
        parts.append(f"{removed_lines} note line(s)")
    return Difference(SCC_ITEM, f"held money again ({' and '.join(parts)})", repair="scrubbed again")


def page_difference(session_id: str, published_hash: str, found_hash: str | None) -> Difference | None:
    """The guest page object against the page last uploaded: missing, or other content."""
    if found_hash == published_hash:
        return None
    place = f"{GUEST_PAGE} {session_id}"
    if found_hash is None:
        return Difference(place, "is missing from the bucket", repair="uploaded again")
    return Difference(place, "content differs from the page last published", repair="uploaded again")


def crew_names(crew: Any) -> list[str]:
    """Crew names, sorted, as the drift report compares them (SCC may list crew in any order)."""
    if not isinstance(crew, list):
        return []
    return sorted(" ".join(str(m.get("name") or "").split()) for m in crew if isinstance(m, Mapping))


def same_instant(held: Any, sent: Any) -> bool:
    """Both ISO 8601 texts name one instant (the offset may be written otherwise)."""
    try:
        return datetime.fromisoformat(str(held)) == datetime.fromisoformat(str(sent))
    except ValueError:
        return False


def same_number(held: Any, sent: Any) -> bool:
    """Equal as decimals: 250, 250.0 and "250.00" are one amount; a missing or non-numeric value is not."""
    if held is None or isinstance(held, bool):
        return False
    try:
        return Decimal(str(held)) == Decimal(str(sent))
    except (InvalidOperation, ValueError):
        return False


def _was(change: tuple[str, Any, Any]) -> str:
    name, held, sent = change
    if held in (None, ""):
        return f"{name} is missing, the pipeline sent {sent}"
    if holds_amount(str(held)):
        # Whatever a person typed is quoted only when it holds no amount: the line goes into an alert.
        return f"{name} was edited, the pipeline sent {sent}"
    return f"{name} is {held}, the pipeline sent {sent}"


def reported(differences: Iterable[Difference]) -> list[Difference]:
    """The differences left to a person: everything the run does not repair."""
    return [difference for difference in differences if not difference.repair]


def situation(differences: Iterable[Difference]) -> list[str]:
    """The reported differences as the lines a drift alert's id is made of (sorted, so order never matters)."""
    return sorted({difference.line for difference in reported(differences)})


def alert_text(booking: Booking, differences: Sequence[Difference], tz: Any) -> str:
    """The drift alert for the desk: the booking, every difference, and what was left alone."""
    start = booking.start.astimezone(tz)
    heading = (
        f"Drift on booking {booking.booking_id}: {booking.boat}, {start.date().isoformat()} "
        f"{start.strftime('%H:%M')}. Someone changed what the pipeline published; nothing was overwritten."
    )
    advice = (
        "Check these at JADA and SCC and put right what is wrong by hand; "
        "this alert is not sent again while the differences stay the same."
    )
    return "\n".join([heading, *(f"- {line}" for line in situation(differences)), advice])
