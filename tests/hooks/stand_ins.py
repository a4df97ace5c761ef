"""Stand-ins for the hook tests: a scriptable JSON service (JADA / SCC), a fake sleep, connection factories, a
ledger record to save."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from charter_pipeline.hooks.policy import RetryPolicy
from charter_pipeline.ledger import LedgerRecord

JADA_TOKEN = "jada-dash-token-7f3a9c1e"
SCC_KEY = "scc-service-key-b41d29e8"
AWS_ACCESS_KEY = "AKIAHOOKTESTS0000001"
AWS_SECRET_KEY = "aws-secret-key-never-logged-5e2f"
SECRETS = (JADA_TOKEN, SCC_KEY, AWS_ACCESS_KEY, AWS_SECRET_KEY)


@dataclass
class Seen:
    """One request as the service received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Sleeps:
    """A fake ``sleep`` for RetryPolicy: records the waits instead of waiting."""

    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def fast_policy(sleeps: Sleeps, **changes: Any) -> RetryPolicy:
    """The production shape (4 attempts, 0.5 s doubling) with a tiny read timeout and no real waiting."""
    policy = RetryPolicy(
        attempts=4,
        first_delay=0.5,
        max_delay=8.0,
        connect_timeout=1.0,
        read_timeout=0.3,
        retry_after_cap=30.0,
        sleep=sleeps,
        jitter=lambda: 1.0,
    )
    return policy.with_changes(**changes)


class FakeService:
    """A strict stand-in for the JADA calendar or ShipCaptainCrew behind an API Gateway stage.

    Refuses any request without the right secret header (401). ``fail_next(method, *faults)`` scripts what the
    next requests of that method get: "500", "503", "429", "400", "404", "409", "422", "401", "403", "hang"
    (answer later than any test read timeout), "drop" (close without answering), "create_then_drop" and
    "create_then_hang" (store the record, then lose the answer), "echo_secret" (a 422 that quotes the secret),
    "redirect" (302 to ``redirect_to``), "no_id" (201 without an id), "ignore_query" (list every record).
    """

    def __init__(self, *, collection: str, key_field: str, id_field: str, header: str, header_value: str) -> None:
        self.collection = collection
        self.key_field = key_field
        self.id_field = id_field
        self.header = header
        self.header_value = header_value
        self.stage = "/prod"
        self.records: dict[str, dict[str, Any]] = {}
        self.seen: list[Seen] = []
        self.redirect_to = ""
        self.retry_after = "7"
        self._faults: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.block_on_close = False  # hanging handlers must not hold up the test's teardown
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        """The base URL with the stage, as a connection's host holds it."""
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.stage}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> FakeService:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, method: str, *faults: str) -> None:
        with self._lock:
            self._faults.setdefault(method, []).extend(faults)

    def add_record(self, record: dict[str, Any]) -> str:
        record_id = f"{self.collection}-{len(self.records) + 1}"
        self.records[record_id] = {self.id_field: record_id, **record}
        return record_id

    def calls(self, method: str | None = None) -> list[Seen]:
        return [s for s in self.seen if method is None or s.method == method]

    def _next_fault(self, method: str) -> str:
        with self._lock:
            queue = self._faults.get(method) or []
            return queue.pop(0) if queue else ""

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                service._handle(self, "GET")

            def do_POST(self) -> None:
                service._handle(self, "POST")

            def do_PATCH(self) -> None:
                service._handle(self, "PATCH")

        return Handler

    def _answer(self, handler: BaseHTTPRequestHandler, status: int, body: Any = None, **headers: str) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name.replace("_", "-"), value)
        handler.end_headers()
        handler.wfile.write(data)

    def _drop(self, handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_RDWR)

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        self.seen.append(Seen(method, parts.path, parse_qs(parts.query), dict(handler.headers.items()), body))
        if handler.headers.get(self.header) != self.header_value:
            self._answer(handler, 401, {"message": "Unauthorized"})
            return
        if not parts.path.startswith(self.stage + "/"):
            self._answer(handler, 403, {"message": "Missing Authentication Token"})
            return
        path = parts.path[len(self.stage) :]
        fault = self._next_fault(method)
        if fault in ("500", "503", "400", "404", "409", "401", "403"):
            headers = {"Retry_After": self.retry_after} if fault == "503" else {}
            self._answer(handler, int(fault), {"message": f"scripted {fault}"}, **headers)
            return
        if fault == "429":
            self._answer(handler, 429, {"message": "Too Many Requests"}, Retry_After=self.retry_after)
            return
        if fault == "422":
            self._answer(handler, 422, {"message": "party_size must be at most 150"})
            return
        if fault == "echo_secret":
            self._answer(handler, 422, {"message": f"bad request from {self.header}: {self.header_value}"})
            return
        if fault == "redirect":
            handler.send_response(302)
            handler.send_header("Location", self.redirect_to + path)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        if fault == "hang":
            self._stop.wait(2.0)
            return
        if fault == "drop":
            self._drop(handler)
            return

        collection = f"/{self.collection}"
        if method == "GET" and path == collection:
            wanted = parse_qs(parts.query).get(self.key_field, [None])[0]
            items = [r for r in self.records.values() if fault == "ignore_query" or r.get(self.key_field) == wanted]
            self._answer(handler, 200, {"items": items})
        elif method == "POST" and path == collection:
            record_id = self.add_record(body or {})
            if fault == "create_then_drop":
                self._drop(handler)
            elif fault == "create_then_hang":
                self._stop.wait(2.0)
            elif fault == "no_id":
                self._answer(handler, 201, {"created": True})
            else:
                self._answer(handler, 201, {self.id_field: record_id})
        elif method == "PATCH" and path.startswith(collection + "/"):
            record_id = path[len(collection) + 1 :]
            if record_id not in self.records:
                self._answer(handler, 404, {"message": f"no {self.collection} {record_id}"})
                return
            self.records[record_id].update(body or {})
            self._answer(handler, 200, self.records[record_id])
        else:
            self._answer(handler, 404, {"message": "Not Found"})


def http_conn_json(host: str, password: str, **fields: Any) -> str:
    """An ``AIRFLOW_CONN_*`` value in JSON form for an http connection."""
    return json.dumps({"conn_type": "http", "host": host, "password": password, **fields})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unique(prefix: str) -> str:
    """A fresh bucket/table name, so tests share one moto server without seeing each other's data."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


LEDGER_SNAPSHOT = {"booking_id": "BS-1001", "status": "approved", "timezone": "America/Los_Angeles", "gross": "840.75"}


def ledger_record(booking_id: str = "BS-1001", **changes: Any) -> LedgerRecord:
    """A booking's ledger record as the poll saves it (pending work), with ``changes``."""
    base = LedgerRecord(
        booking_id=booking_id,
        snapshot=LEDGER_SNAPSHOT | {"booking_id": booking_id},
        order_key=["2026-06-01T17:04:12.000000Z", "2026-06-02T09:00:00.000000Z", "s3://exports/a.csv", 3],
        fingerprint="f" * 32,
        status="approved",
        state="pending",
        source="s3://exports/a.csv#3",
        row_digest="d" * 32,
        first_seen_at="2026-06-02T09:01:00+00:00",
        updated_at="2026-06-02T09:01:00+00:00",
    )
    return replace(base, **changes)
