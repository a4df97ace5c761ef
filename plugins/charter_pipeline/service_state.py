"""What a service holds against what the pipeline would send.

Shared by the publishing steps (a needless PATCH at SCC e-mails every crew member, so compare first) and the
drift report (what differs is what gets reported).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from charter_pipeline.booking import Booking

log = logging.getLogger(__name__)


class ServiceStatus(StrEnum):
    """The status the pipeline gives a calendar entry or an SCC event (CONTRACT.md sections 5 and 6)."""

    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"

    @classmethod
    def of(cls, booking: Booking) -> ServiceStatus:
        """A charter is confirmed; anything else that was published is cancelled."""
        return cls.CONFIRMED if booking.is_charter else cls.CANCELLED


def payload_hash(payload: Mapping[str, Any]) -> str:
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def changed_fields(current: Mapping[str, Any], wanted: Mapping[str, Any], *, ignore: tuple[str, ...] = ()) -> dict:
    """The fields of ``wanted`` that the service's ``current`` view does not already hold."""
    return {key: value for key, value in wanted.items() if key not in ignore and not holds(current.get(key), value)}


def holds(current: Any, wanted: Any) -> bool:
    """Whether a service's stored value already says what we would send.

    Lenient where services differ harmlessly: objects may carry extra keys of the service's own (a crew member's
    invitation status), and numbers may come back as text or with another scale ("250.00" for 250). A needless
    PATCH is not harmless at SCC: it e-mails every crew member.
    """
    if isinstance(wanted, Mapping):
        return isinstance(current, Mapping) and all(holds(current.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return (
            isinstance(current, list)
            and len(current) == len(wanted)
            and all(holds(c, w) for c, w in zip(current, wanted, strict=True))
        )
    if isinstance(wanted, int | float | Decimal) and not isinstance(wanted, bool):
        try:
            return Decimal(str(current)) == Decimal(str(wanted))
        except (InvalidOperation, ValueError):
            return False
    return bool(current == wanted)


def pick_existing(items: list[dict[str, Any]], id_key: str, known_id: str, what: str) -> dict[str, Any] | None:
    """The one artifact a lookup found: the one the ledger knows if present, else the first. Warns on duplicates,
    which the pipeline never makes but a person working by hand might have."""
    if not items:
        return None
    if len(items) > 1:
        log.warning(
            "%d %s share one external id; using %s. Remove the duplicates by hand.",
            len(items),
            what,
            known_id or items[0].get(id_key),
        )
    for item in items:
        if known_id and item.get(id_key) == known_id:
            return item
    return items[0]
