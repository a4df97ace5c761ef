"""Alerts to the operations desk (CONTRACT.md section 11): what one alert is, its stable id, and what it may hold.

Pure: ``hooks/ops_alerts.py`` sends them, the aftercare and reconcile tasks decide them. An alert's ``alert_id``
depends only on its booking, its kind and its situation (the crew's answers, or a set of differences), never on
the run or the time, so the run's retries and later runs resend a refused alert under the same id and a receiver
can drop repeats.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from charter_pipeline.hooks.policy import AWS_ACCESS_KEY_ID


class AlertKind(StrEnum):
    """The ``kind`` of an alert, exactly as the receiver reads it (CONTRACT.md section 11)."""

    CREW_DECLINED = "crew_declined"
    CREW_PENDING = "crew_pending"
    CREW_ALL_CLEAR = "crew_all_clear"
    DRIFT = "drift"
    # CONTRACT.md section 15: a booking stuck after every retry, and its recovery (publishing/desk_alerts.py).
    PUBLISH_FAILED = "publish_failed"
    PUBLISH_RECOVERED = "publish_recovered"


KINDS = tuple(AlertKind)


class AlertDelivery(StrEnum):
    """What became of an alert a run called for (the aftercare and drift reports keep it beside their words)."""

    NONE = ""  # no alert was called for
    SENT = "sent"  # the receiver answered 2xx
    LOGGED = "logged"  # no ops_alerts connection: written to the task log as a warning, which counts as handled
    ALREADY_SENT = "already sent"  # this very alert was handled by an earlier run: not sent again
    FAILED = "failed"  # refused or unanswered: the run's retries or a later run send it again, same alert_id

    @property
    def handled(self) -> bool:
        """The desk has it (or needs nothing): only FAILED is owed again."""
        return self is not AlertDelivery.FAILED


# An e-mail address anywhere in the text: crew and guest addresses are internal (CONTRACT.md sections 7 and 11).
_EMAIL = re.compile(r"[^\s@<>()\[\]]+@[^\s@<>()\[\]]+\.[^\s@<>()\[\]]+")
# Secret shapes that need no knowledge of the secret: an AWS access key id, a bearer token written out.
_SECRET_SHAPES = (
    AWS_ACCESS_KEY_ID,
    re.compile(r"\bbearer\s+\S{8,}", re.IGNORECASE),
)


class AlertRefused(ValueError):
    """The pipeline refuses to send an alert whose text holds money, an e-mail address or a secret."""


@dataclass(frozen=True)
class Alert:
    """One alert for the operations desk; ``text`` is readable lines, built by the task that decides the alert."""

    kind: AlertKind
    booking_id: str
    text: str
    alert_id: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _kind(self.kind))

    def to_json(self) -> dict[str, str]:
        """The body POSTed to ``ops_alerts``, exactly the contract's four fields."""
        return {"text": self.text, "kind": str(self.kind), "booking_id": self.booking_id, "alert_id": self.alert_id}


def _kind(kind: str) -> AlertKind:
    try:
        return AlertKind(kind)
    except ValueError:
        raise ValueError(f"alert kind {kind!r} is not one of {', '.join(KINDS)}") from None


def alert_id(kind: str, booking_id: str, situation: Iterable[str]) -> str:
    """The alert's stable id: a hash of the kind, the booking and the sorted situation lines.

    The order of the lines does not matter (SCC may list the crew in any order); a repeated line counts once.
    """
    kind = _kind(kind)
    lines = sorted({" ".join(str(line).split()) for line in situation})
    digest = hashlib.sha256(json.dumps([kind, booking_id, lines], separators=(",", ":")).encode()).hexdigest()
    return f"{kind}-{digest[:24]}"


def alert_findings(text: str, *, secrets: Iterable[str | None] = ()) -> list[str]:
    """Why ``text`` may not be sent, one line per finding; empty when it is clean.

    Money is an amount ("$25", "150.00", "25 USD"), judged line by line by the same rule as the SCC notes scrub
    (``money_words.holds_amount``). Words alone ("the entry's money fields differ") are not money: a drift alert must be
    able to say which fields differ without saying by how much. A secret is one of ``secrets`` (the connection's
    own password, say) or a shape any secret has (an AWS key id, a written-out bearer token).
    """
    from charter_pipeline.money_words import holds_amount

    findings = [
        f"line {number} holds an amount" for number, line in enumerate(text.splitlines(), 1) if holds_amount(line)
    ]
    if _EMAIL.search(text):
        findings.append("text holds an e-mail address")
    if any(secret and len(secret) >= 4 and secret in text for secret in secrets) or any(
        shape.search(text) for shape in _SECRET_SHAPES
    ):
        findings.append("text holds a secret")
    return findings


def refuse_unsafe(alert: Alert, *, secrets: Iterable[str | None] = ()) -> None:
    """Raise AlertRefused when the alert's text may not leave the pipeline (CONTRACT.md section 11)."""
    findings = alert_findings(alert.text, secrets=secrets)
    if findings:
        # The findings name the line, never its content: the address or secret is not repeated in the error.
        raise AlertRefused(
            f"refusing to send alert {alert.alert_id} for booking {alert.booking_id}: " + "; ".join(findings)
        )
