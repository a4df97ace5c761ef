"""A stand-in for ShipCaptainCrew (CONTRACT.md section 6): an API Gateway stage in front of a DynamoDB table.

- The API lives under its stage (``/prod``); a path outside it, or a route it does not have, answers 403
  ``{"message": "Missing Authentication Token"}`` as API Gateway does.
- Every API call needs ``Authorization: Bearer <service key>``, else 401.
- ``POST /prod/events`` checks the required fields (422 naming the field) and REFUSES money anywhere: a key that
  speaks of money or an amount in any text answers 422 ``money is not allowed in SCC: <where>``. Otherwise it
  stores the event in the DynamoDB table (creating the table if needed) under a new ``event_id``, adding its own
  financial attributes and money lines to ``notes`` as the real SCC may, e-mails every assigned crew member that
  has an address a magic link, and answers 201 ``{"event_id": ...}``. Not idempotent.
- ``GET /prod/events?external_ref=...`` answers ``{"items": [...]}``; ``PATCH /prod/events/{event_id}`` updates,
  writes the item back (money re-added) and e-mails the crew a change notice; ``{"status": "cancelled"}``
  cancels and e-mails a cancellation notice.
- ``GET /prod/events/{event_id}`` answers the event, each crew member with ``response`` (CONTRACT.md section 11):
  ``pending`` until their magic link answers, then ``accepted`` or ``declined``. A PATCH that keeps a member
  (same e-mail, else same name) keeps their answer; a new member starts ``pending``.
- ``GET /magic/<token>`` (outside the stage, no auth) is the crew member's page behind the e-mailed link, with
  Accept and Decline buttons; ``POST /magic/<token>`` with ``response=accepted`` or ``declined`` (a form or a
  JSON object) sets that member's answer. ``set_response()`` does the same from Python.

Run alone: ``python -m sandbox.scc --port 5057 --dynamodb-endpoint http://127.0.0.1:5055`` (key from
``SANDBOX_SCC_SERVICE_KEY``). Without a DynamoDB endpoint events live in memory only.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import html
import json
import os
import re
import secrets
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

from sandbox.faults import (
    CENT,
    Answer,
    Call,
    Check,
    FieldProblem,
    SandboxService,
    ServiceRequest,
    check_fields,
    email_or_empty,
    external_id,
    iso_date,
    list_of,
    offset_datetime,
    one_of,
    record,
    serve_until_signalled,
    text,
    whole,
)

DEFAULT_SERVICE_KEY = "sandbox-scc-service-key-9XK"
DEFAULT_EVENTS_TABLE = "scc-events"
OUTBOX_FILE = "scc-outbox.jsonl"
MISSING_TOKEN = "Missing Authentication Token"

EVENT_FIELDS: dict[str, Check] = {
    "external_ref": external_id("boatsetter:"),
    "title": text(),
    "date": iso_date,
    "start": offset_datetime,
    "end": offset_datetime,
    "boat": text(),
    "guest": record({"name": text(), "party_size": whole(1, 150)}),
    "crew": list_of(record({"name": text(), "email": email_or_empty, "role": text()}), max_items=50),
    "description": text(allow_empty=True, max_length=20000),
    "checklist": list_of(text()),
    "notes": text(allow_empty=True, max_length=20000),
}
STATUSES = ("scheduled", "confirmed", "cancelled")
RESPONSES = ("pending", "accepted", "declined")
UPDATE_FIELDS: dict[str, Check] = {**EVENT_FIELDS, "status": one_of(*STATUSES)}

# Words that make a key speak of money, matched as whole words of the key (hourly_rate, crewPay, net-revenue).
MONEY_WORDS = frozenset(
    {
        "revenue",
        "revenues",
        "cost",
        "costs",
        "fee",
        "fees",
        "rate",
        "rates",
        "pay",
        "paid",
        "payment",
        "payments",
        "payout",
        "payouts",
        "price",
        "prices",
        "pricing",
        "amount",
        "amounts",
        "margin",
        "margins",
        "gross",
        "net",
        "wage",
        "wages",
        "salary",
        "commission",
        "earnings",
        "income",
        "profit",
        "money",
        "usd",
        "dollar",
        "dollars",
        "cents",
        "deposit",
        "refund",
        "invoice",
        "billing",
        "budget",
        "cash",
    }
)
# Stems unmistakable even inside a run-together key (grossrevenue, crewpayout).
MONEY_STEMS = ("revenue", "payout", "payroll", "price", "salar", "commission", "earning", "compensation", "gratuit")
AMOUNT = re.compile(
    r"[$€£]\s?\d"
    r"|\b\d[\d,]*(?:\.\d+)?\s?(?:usd|eur|gbp|dollars?|bucks)\b"
    r"|\b(?:usd|us\$)\s?\d",
    re.IGNORECASE,
)

# The e-mails SCC sends crew, by kind: (subject, opening line).
MAILS = {
    "invitation": ("You're crewing {title} on {date}", "You're assigned as {role} on {title}."),
    "change": ("Updated: {title} on {date}", "{title} has changed. Please check the details."),
    "cancellation": ("Cancelled: {title} on {date}", "{title} has been cancelled. You are released from this trip."),
    "removal": ("You're no longer crewing {title} on {date}", "You're no longer assigned to {title}."),
}

# What the real SCC may add on its own: its rate card, applied to every event it stores.
SCC_HOURLY_RATE = Decimal("25.00")
SCC_CAPTAIN_HOURLY = Decimal("50.00")
SCC_REVENUE_HOURLY = Decimal("280.00")
SCC_REVENUE_SHARE_PERCENT = 18


def _key_words(key: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key)
    return [word for word in re.split(r"[^a-z0-9]+", spaced.lower()) if word]


def is_money_key(key: str) -> bool:
    """Whether a field name speaks of money (``captain_fee``, ``hourlyRate``, ``net``)."""
    return any(word in MONEY_WORDS for word in _key_words(key)) or any(s in key.lower() for s in MONEY_STEMS)


def money_findings(value: Any, where: str = "") -> list[str]:
    """Every place in a JSON value that carries money: a money key, or an amount ($25, 25.00 USD) in a text."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, inner in value.items():
            path = f"{where}.{key}" if where else str(key)
            if is_money_key(str(key)):
                found.append(path)
            else:
                found.extend(money_findings(inner, path))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found.extend(money_findings(inner, f"{where}[{index}]"))
    elif isinstance(value, str) and AMOUNT.search(value):
        found.append(where or "body")
    return found


def _charter_hours(event: Mapping[str, Any]) -> Decimal:
    seconds = (datetime.fromisoformat(event["end"]) - datetime.fromisoformat(event["start"])).total_seconds()
    return (Decimal(int(seconds)) / Decimal(3600)).quantize(CENT)


def scc_financials(event: Mapping[str, Any]) -> dict[str, Decimal]:
    """The financial attributes this SCC adds to each stored event (DynamoDB numbers)."""
    hours = _charter_hours(event)
    deckhands = sum(1 for member in event.get("crew", []) if member.get("role") != "captain")
    captain_fee = (SCC_CAPTAIN_HOURLY * hours).quantize(CENT)
    crew_pay = (SCC_HOURLY_RATE * deckhands * hours).quantize(CENT)
    revenue = (SCC_REVENUE_HOURLY * hours).quantize(CENT)
    return {
        "captain_fee": captain_fee,
        "crew_pay": crew_pay,
        "revenue": revenue,
        "net_revenue": revenue - captain_fee - crew_pay,
        "hourly_rate": SCC_HOURLY_RATE,
    }


def scc_money_lines(event: Mapping[str, Any], financials: Mapping[str, Decimal]) -> list[str]:
    """The money lines this SCC appends to ``notes``."""
    deckhands = sum(1 for member in event.get("crew", []) if member.get("role") != "captain")
    return [
        f"Captain fee: ${financials['captain_fee']}",
        f"Crew pay {deckhands} x ${financials['hourly_rate']}/hr",
        f"Revenue share: {SCC_REVENUE_SHARE_PERCENT}%",
    ]


def check_timing(event: Mapping[str, Any]) -> None:
    """``end`` after ``start``; ``date`` the local date of ``start``."""
    start = datetime.fromisoformat(event["start"])
    if datetime.fromisoformat(event["end"]) <= start:
        raise FieldProblem("end", f"{event['end']} must be after start {event['start']}")
    if start.date().isoformat() != event["date"]:
        raise FieldProblem("date", f"{event['date']} is not the date of start {event['start']}")


class MoneyRefused(FieldProblem):
    """The body carries money (CONTRACT.md section 6); the 422 message names every place."""

    def __init__(self, places: list[str]) -> None:
        super().__init__(places[0], "money is not allowed in SCC")
        self.places = places

    def __str__(self) -> str:
        return f"money is not allowed in SCC: {', '.join(self.places)}"


def with_responses(crew: list[dict[str, Any]], before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``crew`` with each member's answer: kept from ``before`` for the same person, else ``pending``."""

    def who(member: Mapping[str, Any]) -> str:
        return str(member.get("email") or member.get("name") or "").casefold()

    answers = {who(member): member.get("response", "pending") for member in before}
    return [{**member, "response": answers.get(who(member), "pending")} for member in crew]


class EventStoreDown(RuntimeError):
    """DynamoDB could not be written; the event is not created."""


class ShipCaptainCrew(SandboxService):
    """The ShipCaptainCrew stand-in. ``events()``, ``outbox()``, ``table_item()`` and ``state()`` show what it did."""

    name = "scc"

    def __init__(
        self,
        *,
        service_key: str = DEFAULT_SERVICE_KEY,
        stage: str = "prod",
        dynamodb_endpoint: str | None = None,
        events_table: str = DEFAULT_EVENTS_TABLE,
        aws_access_key_id: str = "sandbox",
        aws_secret_access_key: str = "sandbox",
        region: str = "us-east-1",
        outbox_path: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self._key = service_key
        self.stage = stage.strip("/")
        self.events_table = events_table
        self.outbox_path = outbox_path
        self._dynamodb_endpoint = dynamodb_endpoint
        self._credentials = (aws_access_key_id, aws_secret_access_key)
        self.region = region
        self._dynamodb: Any = None
        self._lock = threading.RLock()
        self._events: dict[str, dict[str, Any]] = {}
        self._outbox: list[dict[str, Any]] = []
        self._magic: dict[str, tuple[str, str]] = {}

    # lifecycle

    def start(self) -> Self:
        """Serve, after making sure SCC's own table exists when a DynamoDB endpoint is given."""
        if self._dynamodb_endpoint and self._dynamodb is None:
            import boto3
            from botocore.config import Config

            self._dynamodb = boto3.client(
                "dynamodb",
                endpoint_url=self._dynamodb_endpoint,
                region_name=self.region,
                aws_access_key_id=self._credentials[0],
                aws_secret_access_key=self._credentials[1],
                config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"}),
            )
            self.ensure_table()
        super().start()
        return self

    @property
    def url(self) -> str:
        """The base URL with the stage, as the ``scc_api`` connection's host holds it."""
        return f"{self.root_url}/{self.stage}"

    # what tests and the admin API see

    def events(self, external_ref: str | None = None) -> list[dict[str, Any]]:
        """Stored events as SCC keeps them (its money attributes and notes lines included), oldest first."""
        with self._lock:
            return [
                self._item(event)
                for event in self._events.values()
                if external_ref is None or event.get("external_ref") == external_ref
            ]

    def outbox(self) -> list[dict[str, Any]]:
        """Every e-mail SCC has sent, oldest first."""
        with self._lock:
            return [dict(mail) for mail in self._outbox]

    def table_item(self, event_id: str) -> dict[str, Any] | None:
        """The event's item as it is now in DynamoDB (after anyone's updates), or None."""
        if self._dynamodb is None:
            return None
        from boto3.dynamodb.types import TypeDeserializer

        found = self._dynamodb.get_item(
            TableName=self.events_table, Key={"event_id": {"S": event_id}}, ConsistentRead=True
        ).get("Item")
        if found is None:
            return None
        deserializer = TypeDeserializer()
        return {key: deserializer.deserialize(value) for key, value in found.items()}

    def set_response(self, event_id: str, who: str, response: str) -> dict[str, Any]:
        """Answer for a crew member (by e-mail or name) as their magic link would; returns the stored event."""
        if response not in RESPONSES:
            raise FieldProblem("response", f"{response!r} must be one of {', '.join(RESPONSES)}")
        with self._lock:
            event = self._events.get(event_id)
            if event is None:
                raise KeyError(event_id)
            wanted = who.casefold()

            def is_them(member: Mapping[str, Any]) -> bool:
                return wanted in (str(member.get("email") or "").casefold(), str(member.get("name") or "").casefold())

            if not any(is_them(member) for member in event["crew"]):
                raise KeyError(who)
            crew = [{**m, "response": response} if is_them(m) else m for m in event["crew"]]
            updated = {**event, "crew": crew}
            self._write(updated)
            self._events[event_id] = updated
            return self._item(updated)

    def stored(self) -> dict[str, Any]:
        return {"events_table": self.events_table, "events": self.events(), "outbox": self.outbox()}

    def forget(self) -> None:
        with self._lock:
            self._events.clear()
            self._outbox.clear()
            self._magic.clear()

    def delete_by_hand(self, event_id: str) -> bool:
        """Delete one event as a person would in SCC's own console (no API route, nothing logged as a request):
        the event and its table item go, no one is e-mailed. For the drift report's tests; True if it existed."""
        with self._lock:
            existed = self._events.pop(event_id, None) is not None
        if self._dynamodb is not None:
            self._dynamodb.delete_item(TableName=self.events_table, Key={"event_id": {"S": event_id}})
        return existed

    def ensure_table(self) -> None:
        """Create ``events_table`` (partition key ``event_id``) unless it exists: SCC owns that table."""
        if self._dynamodb is None:
            return
        try:
            self._dynamodb.describe_table(TableName=self.events_table)
        except self._dynamodb.exceptions.ResourceNotFoundException:
            with contextlib.suppress(self._dynamodb.exceptions.ResourceInUseException):  # made meanwhile
                self._dynamodb.create_table(
                    TableName=self.events_table,
                    KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                )

    # the API

    def fault_call(self, request: ServiceRequest) -> Call:
        return Call(request.method, self._path_in_stage(request.path) or request.path)

    def _path_in_stage(self, path: str) -> str | None:
        prefix = f"/{self.stage}"
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix) :] or "/"
        return None

    def answer(self, request: ServiceRequest) -> Answer:
        if request.path.startswith("/magic/") and request.method == "GET":
            return self._magic_page(request.path.removeprefix("/magic/"))
        if request.path.startswith("/magic/") and request.method == "POST":
            return self._magic_answer(request.path.removeprefix("/magic/"), request)
        path = self._path_in_stage(request.path)
        parts = path.strip("/").split("/") if path else []
        route = (request.method, len(parts)) if parts and parts[0] == "events" else None
        if route not in (("POST", 1), ("GET", 1), ("GET", 2), ("PATCH", 2)):
            return Answer.message(403, MISSING_TOKEN, [("x-amzn-ErrorType", "MissingAuthenticationTokenException")])

        scheme, _, sent = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), self._key.encode()):
            return Answer.message(401, "Unauthorized")

        try:
            if route == ("POST", 1):
                return self._create(request)
            if route == ("GET", 1):
                wanted = request.query.get("external_ref")
                return Answer.json(200, {"items": self.events(wanted if isinstance(wanted, str) else None)})
            if route == ("GET", 2):
                with self._lock:
                    event = self._events.get(parts[1])
                return Answer.json(200, self._item(event)) if event else Answer.message(404, f"no event {parts[1]}")
            return self._update(parts[1], request)
        except EventStoreDown as exc:
            return Answer.message(502, str(exc))

    def _create(self, request: ServiceRequest) -> Answer:
        body = request.json_object()
        found = money_findings(body)
        if found:
            raise MoneyRefused(found)
        check_fields(body, EVENT_FIELDS, partial=False)
        if "status" in body:
            one_of(*STATUSES)("status", body["status"])
        check_timing(body)
        event_id = f"evt-{uuid.uuid4()}"
        now = datetime.now(UTC).isoformat()
        event = {"status": "scheduled", **body, "event_id": event_id, "created_at": now, "updated_at": now}
        event["crew"] = with_responses(body["crew"], [])
        with self._lock:
            self._write(event)
            self._events[event_id] = event
            for member in event["crew"]:
                self._mail(event, member, "invitation")
        return Answer.json(201, {"event_id": event_id})

    def _update(self, event_id: str, request: ServiceRequest) -> Answer:
        with self._lock:
            known = event_id in self._events
        if not known:
            return Answer.message(404, f"no event {event_id}")
        body = request.json_object()
        found = money_findings(body)
        if found:
            raise MoneyRefused(found)
        for fixed in ("event_id", "created_at"):
            if fixed in body:
                raise FieldProblem(fixed, "cannot be changed")
        check_fields(body, UPDATE_FIELDS, partial=True)
        with self._lock:
            current = self._events.get(event_id)
            if current is None:  # forgotten by a reset meanwhile
                return Answer.message(404, f"no event {event_id}")
            merged = {**current, **body, "updated_at": datetime.now(UTC).isoformat()}
            merged["crew"] = with_responses(merged["crew"], current["crew"])
            check_timing(merged)
            self._write(merged)
            self._events[event_id] = merged
            if body:
                self._notify_update(current, merged, cancelled=body.get("status") == "cancelled")
        return Answer.json(200, self._item(merged))

    def _notify_update(self, before: Mapping[str, Any], after: Mapping[str, Any], *, cancelled: bool) -> None:
        before_emails = {m["email"] for m in before["crew"] if m.get("email")}
        after_emails = {m["email"] for m in after["crew"] if m.get("email")}
        for member in after["crew"]:
            if cancelled:
                self._mail(after, member, "cancellation")
            else:
                self._mail(after, member, "change" if member.get("email") in before_emails else "invitation")
        for member in before["crew"]:
            if member.get("email") and member["email"] not in after_emails:
                self._mail(after, member, "removal")

    # storage and mail

    def _item(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The event as SCC stores it: what the client sent plus SCC's own money attributes and notes lines."""
        financials = scc_financials(event)
        lines = scc_money_lines(event, financials)
        notes = "\n".join([event["notes"], *lines]) if event.get("notes") else "\n".join(lines)
        return {**event, **financials, "notes": notes}

    def _write(self, event: Mapping[str, Any]) -> None:
        if self._dynamodb is None:
            return
        from boto3.dynamodb.types import TypeSerializer
        from botocore.exceptions import BotoCoreError, ClientError

        serializer = TypeSerializer()
        item = {key: serializer.serialize(value) for key, value in self._item(event).items()}
        for attempt in (1, 2):
            try:
                self._dynamodb.put_item(TableName=self.events_table, Item=item)
                return
            except self._dynamodb.exceptions.ResourceNotFoundException:
                if attempt == 2:
                    raise EventStoreDown("SCC event store unavailable (table missing)") from None
                self.ensure_table()  # deleted under us (a moto reset): SCC owns the table, so it remakes it
            except (BotoCoreError, ClientError):
                raise EventStoreDown("SCC event store unavailable") from None

    def _mail(self, event: Mapping[str, Any], member: Mapping[str, Any], kind: str) -> None:
        email = member.get("email") or ""
        if not email:
            return
        token = secrets.token_urlsafe(16)
        self._magic[token] = (event["event_id"], email)
        link = f"{self.root_url}/magic/{token}"
        when = f"{event['date']} {event['start'][11:16]}-{event['end'][11:16]}"
        subject, opening = MAILS[kind]
        first_line = opening.format(title=event["title"], role=member.get("role", ""))
        mail = {
            "to": email,
            "name": member.get("name", ""),
            "kind": kind,
            "event_id": event["event_id"],
            "external_ref": event["external_ref"],
            "subject": subject.format(title=event["title"], date=event["date"]),
            "body": f"Hi {member.get('name', '')},\n\n{first_line}\nWhen: {when}\nBoat: {event['boat']}\n\n"
            f"Open your crew page: {link}\n",
            "link": link,
            "sent_at": datetime.now(UTC).isoformat(),
        }
        self._outbox.append(mail)
        if self.outbox_path is not None:
            self.outbox_path.parent.mkdir(parents=True, exist_ok=True)
            with self.outbox_path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(mail) + "\n")

    def _magic_page(self, token: str) -> Answer:
        with self._lock:
            found = self._magic.get(token)
            event = self._events.get(found[0]) if found else None
        if found is None or event is None:
            return Answer(
                404,
                b"<!doctype html><title>Link expired</title><p>This link is not valid.</p>",
                [("Content-Type", "text/html; charset=utf-8")],
            )
        member = next((m for m in event["crew"] if m.get("email") == found[1]), {"name": "", "role": "removed"})
        checklist = "".join(f"<li>{html.escape(item)}</li>" for item in event.get("checklist", []))
        page = (
            f"<!doctype html><meta charset=utf-8><title>{html.escape(event['title'])}</title>"
            f"<h1>{html.escape(event['title'])}</h1>"
            f"<p>Hi {html.escape(member['name'])} ({html.escape(member['role'])}). "
            f"Status: {html.escape(event['status'])}</p>"
            f"<p>{html.escape(event['date'])}, {html.escape(event['start'])} to {html.escape(event['end'])}, "
            f"{html.escape(event['boat'])}</p><ul>{checklist}</ul>"
            f"<p>Your answer: <strong>{html.escape(member.get('response', 'pending'))}</strong></p>"
            f"<form method=post><button name=response value=accepted>Accept</button> "
            f"<button name=response value=declined>Decline</button></form>"
        )
        return Answer(200, page.encode(), [("Content-Type", "text/html; charset=utf-8")])

    def _magic_answer(self, token: str, request: ServiceRequest) -> Answer:
        """The crew member's Accept or Decline: a form post from the page (or the inspector), or JSON."""
        from urllib.parse import parse_qs

        with self._lock:
            found = self._magic.get(token)
        if found is None:
            return Answer.message(404, "This link is not valid.")
        if (request.headers.get("Content-Type") or "").startswith("application/json"):
            response = request.json_object().get("response")
        else:
            response = (parse_qs(request.body.decode("utf-8", "replace")).get("response") or [""])[0]
        if response not in RESPONSES[1:]:
            raise FieldProblem("response", f"{response!r} must be accepted or declined")
        try:
            self.set_response(found[0], found[1], str(response))
        except KeyError:
            return Answer.message(404, "You are no longer crewing this trip.")
        return self._magic_page(token)


def main(argv: list[str] | None = None) -> None:
    """``python -m sandbox.scc``: serve ShipCaptainCrew until Ctrl-C."""
    parser = argparse.ArgumentParser(description="ShipCaptainCrew sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5057)
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--dynamodb-endpoint", help="e.g. the moto server, http://127.0.0.1:5055")
    parser.add_argument("--events-table", default=DEFAULT_EVENTS_TABLE)
    parser.add_argument("--state-dir", type=Path, help=f"append sent e-mails to <state-dir>/{OUTBOX_FILE}")
    args = parser.parse_args(argv)
    scc = ShipCaptainCrew(
        service_key=os.environ.get("SANDBOX_SCC_SERVICE_KEY", DEFAULT_SERVICE_KEY),
        stage=args.stage,
        dynamodb_endpoint=args.dynamodb_endpoint,
        events_table=args.events_table,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "sandbox"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "sandbox"),
        outbox_path=args.state_dir / OUTBOX_FILE if args.state_dir else None,
        host=args.host,
        port=args.port,
    ).start()
    serve_until_signalled([scc], f"ShipCaptainCrew sandbox on {scc.url}")


if __name__ == "__main__":
    main()
