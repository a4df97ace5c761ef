"""A stand-in for the operations desk's alert receiver (CONTRACT.md section 11), strict about what it accepts.

- ``POST /alerts`` with a JSON object of exactly ``text``, ``kind``, ``booking_id`` and ``alert_id`` (strings;
  ``kind`` one of the contract's six, sections 11 and 15) is recorded and answered 200
  ``{"received": <alert_id>, "repeat": bool}``.
  Any other field, a missing one, or a text holding an e-mail address or an amount answers 422 naming it.
- When started with a token, every call needs ``Authorization: Bearer <token>``, else 401. Without a token it
  takes any caller, as a desk webhook without auth would.
- ``GET /alerts`` answers 200 (the connection test): the number of alerts received.
- A repeat (an ``alert_id`` already received) is recorded as such: ``received()`` lists every POST, ``delivered()``
  one per ``alert_id``. Faults (503, 401, a hang...) come from ``/_sandbox/faults`` like every stand-in.

Run alone: ``python -m sandbox.alerts --port 5058`` (token from ``SANDBOX_ALERTS_TOKEN``, none when empty).
"""

from __future__ import annotations

import argparse
import hmac
import os
import re
import threading
from datetime import UTC, datetime
from typing import Any

from sandbox.faults import Answer, Check, FieldProblem, SandboxService, ServiceRequest, check_fields, one_of, text

DEFAULT_ALERTS_TOKEN = "sandbox-ops-alerts-token-4PV"
ALERT_KINDS = ("crew_declined", "crew_pending", "crew_all_clear", "drift", "publish_failed", "publish_recovered")
ALERT_FIELDS: dict[str, Check] = {
    "text": text(max_length=20000),
    "kind": one_of(*ALERT_KINDS),
    "booking_id": text(max_length=64),
    "alert_id": text(max_length=200),
}
# Written independently of the pipeline's own guard, so the stand-in catches what that guard would miss.
_EMAIL = re.compile(r"\S+@\S+\.\w+")
_AMOUNT = re.compile(r"[$€£]\s?\d|\b\d+\.\d{2}\b(?!\s?(?:am|pm|h|ft))|\b\d+\s?(?:usd|dollars)\b", re.IGNORECASE)


class AlertReceiver(SandboxService):
    """The desk's alert receiver stand-in. ``received()`` and ``delivered()`` show what it got."""

    name = "alerts"

    def __init__(self, *, token: str = "", host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self._token = token
        self._lock = threading.Lock()
        self._received: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        """The URL alerts are POSTed to: the connection's ``host``."""
        return f"{self.root_url}/alerts"

    def received(self) -> list[dict[str, Any]]:
        """Every alert accepted, repeats included, in arrival order (with ``received_at`` and ``repeat``)."""
        with self._lock:
            return [dict(alert) for alert in self._received]

    def delivered(self) -> list[dict[str, Any]]:
        """One entry per ``alert_id``: what the desk would show after dropping repeats."""
        return [alert for alert in self.received() if not alert["repeat"]]

    def stored(self) -> dict[str, Any]:
        return {"alerts": self.received()}

    def forget(self) -> None:
        with self._lock:
            self._received.clear()

    def answer(self, request: ServiceRequest) -> Answer:
        if self._token:
            sent = request.headers.get("Authorization") or ""
            if not sent.startswith("Bearer "):
                return Answer.message(401, "missing bearer token")
            if not hmac.compare_digest(sent.removeprefix("Bearer ").encode(), self._token.encode()):
                return Answer.message(401, "invalid bearer token")
        if request.path.rstrip("/") != "/alerts":
            return Answer.message(404, f"no route {request.method} {request.path}")
        if request.method == "GET":
            return Answer.json(200, {"alerts": len(self.received())})
        if request.method != "POST":
            return Answer.message(405, f"{request.method} is not allowed on /alerts")
        body = request.json_object()
        unknown = sorted(set(body) - set(ALERT_FIELDS))
        if unknown:
            raise FieldProblem(unknown[0], "is not a field of an alert")
        check_fields(body, ALERT_FIELDS, partial=False)
        if _EMAIL.search(body["text"]):
            raise FieldProblem("text", "holds an e-mail address")
        if _AMOUNT.search(body["text"]):
            raise FieldProblem("text", "holds an amount of money")
        with self._lock:
            repeat = any(alert["alert_id"] == body["alert_id"] for alert in self._received)
            self._received.append({**body, "received_at": datetime.now(UTC).isoformat(), "repeat": repeat})
        return Answer.json(200, {"received": body["alert_id"], "repeat": repeat})


def main(argv: list[str] | None = None) -> None:
    """``python -m sandbox.alerts``: serve the receiver until Ctrl-C."""
    from sandbox.faults import serve_until_signalled

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5058)
    args = parser.parse_args(argv)
    token = os.environ.get("SANDBOX_ALERTS_TOKEN", DEFAULT_ALERTS_TOKEN)
    receiver = AlertReceiver(token=token, host=args.host, port=args.port).start()
    serve_until_signalled([receiver], f"alert receiver sandbox on {receiver.url}")


if __name__ == "__main__":
    main()
