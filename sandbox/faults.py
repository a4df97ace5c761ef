"""The harness every sandbox stand-in runs on: faults on demand, a request log, strict field checks.

Each stand-in (JADA calendar, ShipCaptainCrew, the AWS proxy) is a ``SandboxService``: a threaded HTTP server on
loopback that answers an admin API under ``/_sandbox/`` without auth:

- ``POST /_sandbox/faults`` ``{"method": "POST", "path": "/calendar", "mode": "status", "status": 503, "count": 1}``
  makes the next ``count`` matching calls misbehave (``Fault``); ``DELETE /_sandbox/faults`` clears them and
  ``GET /_sandbox/faults`` lists what is still armed. With ``"rate": 0.2`` the fault hits a matching call with that
  probability instead, drawn reproducibly from the service's fault seed (``POST /_sandbox/faults/seed``
  ``{"seed": 7}``); ``"count": null`` keeps a fault armed until it is cleared (a service down).
- ``GET /_sandbox/state``: everything stored plus the request log (never an auth header's value).
- ``POST /_sandbox/reset``: forget everything.

The same is reachable from Python: ``service.inject(...)``, ``service.clear_faults()``, ``service.state()``,
``service.reset()``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import logging
import re
import signal
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Literal, Protocol, Self, get_args
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

FaultMode = Literal["status", "hang", "drop", "reset", "lose_answer"]
FAULT_MODES: tuple[str, ...] = get_args(FaultMode)
ADMIN_PREFIX = "/_sandbox/"


# --- faults ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """What a fault is matched against: the method and path (without any API stage), and for AWS the operation."""

    method: str
    path: str
    service: str = ""
    operation: str = ""


@dataclass
class Fault:
    """The next ``count`` calls matching ``method``/``path`` (and ``service``/``operation`` on the AWS proxy) misbehave.

    Modes:
    - ``status``: answer ``status`` without doing the work (429 adds ``Retry-After: 1``).
    - ``hang``: do the work, then hold the answer for ``seconds`` (past the client's timeout) before sending it.
      The work happens first on purpose: a create that landed only after the client gave up would race the
      client's lookup, and no client could then avoid a duplicate.
    - ``drop``: close the connection without an answer and without doing the work.
    - ``reset``: reset the connection (TCP RST, ``ECONNRESET`` at the client) without doing the work.
    - ``lose_answer``: do the work, then close the connection: "created, then the answer was lost".

    ``count`` calls are hit, then the fault is used up; ``None`` keeps it armed until cleared. ``rate`` 1 hits
    every matching call (a queue of ``count`` faults); below 1, each matching call is hit with that probability
    (``FaultBook.draw``): "20% of SCC POSTs answer 503".
    """

    method: str = "*"
    path: str = "*"
    mode: FaultMode = "status"
    status: int = 503
    seconds: float = 30.0
    count: int | None = 1
    service: str = "*"
    operation: str = "*"
    code: str = ""  # AWS proxy only: the AWS error code a status fault answers with
    rate: float = 1.0

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        if self.mode not in FAULT_MODES:
            raise ValueError(f"mode: {self.mode!r} must be one of {', '.join(FAULT_MODES)}")
        if not (self.path == "*" or self.path.startswith("/")):
            raise ValueError(f"path: {self.path!r} must start with '/' or be '*'")
        if isinstance(self.status, bool) or not isinstance(self.status, int) or not 100 <= self.status <= 599:
            raise ValueError(f"status: {self.status!r} must be an HTTP status from 100 to 599")
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, int | float | Decimal):
            raise ValueError("seconds: must be a number")
        self.seconds = float(self.seconds)
        if not 0 < self.seconds <= 600:
            raise ValueError(f"seconds: {self.seconds} must be more than 0 and at most 600")
        if self.count is not None and (
            isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1
        ):
            raise ValueError(f"count: {self.count!r} must be a whole number of at least 1, or null (no limit)")
        if isinstance(self.rate, bool) or not isinstance(self.rate, int | float | Decimal):
            raise ValueError("rate: must be a number")
        self.rate = float(self.rate)
        if not 0 < self.rate <= 1:
            raise ValueError(f"rate: {self.rate} must be more than 0 and at most 1")

    @classmethod
    def from_json(cls, data: object) -> Fault:
        """A fault from the admin API's JSON body; ``ValueError`` names the offending field."""
        if not isinstance(data, Mapping):
            raise ValueError("fault: the body must be a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown fault field (known: {', '.join(sorted(known))})")
        for name in ("method", "path", "mode", "service", "operation", "code"):
            if name in data and not isinstance(data[name], str):
                raise ValueError(f"{name}: must be a string")
        return cls(**data)

    def matches(self, call: Call) -> bool:
        return (
            self.method in ("*", call.method.upper())
            and (self.path == "*" or fnmatch.fnmatchcase(call.path, self.path))
            and (self.service == "*" or self.service.lower() == call.service.lower())
            and (self.operation == "*" or fnmatch.fnmatchcase(call.operation, self.operation))
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# What a web service does when it cannot take a call, for ``SandboxService.chaos``: (name, mode, status). A hang is
# left out: each one costs the client's whole read timeout, and the reliability suite tries it on its own.
HTTP_FAULT_KINDS: tuple[tuple[str, FaultMode, int], ...] = (
    ("500", "status", 500),
    ("503", "status", 503),
    ("429", "status", 429),
    ("drop", "drop", 503),
    ("reset", "reset", 503),
    ("lost", "lose_answer", 503),
)


class FaultBook:
    """The faults armed on one service. Thread-safe.

    Faults with ``rate`` 1 are consumed in the order they were injected. When none of those matches a call, the
    ones with a lower rate share one draw: a number in [0, 1) from ``draw``, hit by the first fault whose band
    (its rate, after the bands of the rated faults before it) holds it. So faults of rates 0.1, 0.1 and 0.1 hit
    30% of the calls, each kind a third of those, and never two at once.
    """

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._seed = seed
        self._seen: Counter[tuple[str, ...]] = Counter()

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def reseed(self, seed: int) -> None:
        """Start the draws afresh from ``seed``: the same calls then meet the same faults again."""
        with self._lock:
            self._seed = seed
            self._seen.clear()

    def draw(self, call: Call) -> float:
        """The draw for ``call``: a hash of the seed, the call and how many such calls came before it.

        Not one random stream, so the bookings' calls interleaving differently from one run to the next (tasks run
        in parallel) changes nothing for a given call: its n-th repeat (a retry) meets the same fate again.
        Called with the lock held."""
        key = (call.service, call.operation, call.method, call.path)
        nth = self._seen[key]
        self._seen[key] += 1
        digest = hashlib.sha256(repr((self._seed, key, nth)).encode()).digest()
        return int.from_bytes(digest[:7], "big") / 2**56

    def take(self, call: Call) -> Fault | None:
        """The fault ``call`` meets, if any, with one of its ``count`` used up."""
        with self._lock:
            chosen = next((f for f in self._faults if f.rate >= 1 and f.matches(call)), None)
            rated = [f for f in self._faults if f.rate < 1 and f.matches(call)]
            if chosen is None and rated:
                drawn, edge = self.draw(call), 0.0
                for fault in rated:
                    edge += fault.rate
                    if drawn < edge:
                        chosen = fault
                        break
            if chosen is not None and chosen.count is not None:
                chosen.count -= 1
                if chosen.count == 0:
                    self._faults.remove(chosen)
            return chosen

    def clear(self) -> int:
        with self._lock:
            cleared, self._faults = len(self._faults), []
        return cleared

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.to_json() for fault in self._faults]


class RequestLog:
    """Every call a service answered (or dropped), oldest first. Thread-safe; holds no header values."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def append(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# --- requests and answers ----------------------------------------------------------------------------------------


class BadRequest(ValueError):
    """The request cannot be understood at all (400)."""


class FieldProblem(ValueError):
    """One field of a request body fails the service's checks (422); ``str()`` names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _no_constants(name: str) -> Any:
    raise BadRequest(f"body is not valid JSON: {name} is not a number")


def parse_json(body: bytes) -> Any:
    """JSON with numbers kept exact (``Decimal``), so "at most two decimals" can be checked on what was sent."""
    try:
        return json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=_no_constants)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON ({exc})") from None


def _json_default(value: object) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent == 0 else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dump_json(payload: object) -> bytes:
    """JSON bytes for an answer; Decimals become JSON numbers."""
    return json.dumps(payload, default=_json_default).encode("utf-8")


@dataclass
class ServiceRequest:
    """One HTTP request as a stand-in sees it. ``raw_path`` is exactly what the client sent (query included)."""

    method: str
    raw_path: str
    path: str
    query: dict[str, str | list[str]]
    headers: Message
    body: bytes

    def json(self) -> Any:
        """The body as JSON (``BadRequest`` when it is not)."""
        return parse_json(self.body)

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object (``BadRequest`` otherwise)."""
        data = self.json()
        if not isinstance(data, dict):
            raise BadRequest("body must be a JSON object")
        return data

    def logged_body(self) -> Any:
        """The body for the request log: parsed JSON, or None for an empty or non-JSON body."""
        if not self.body:
            return None
        try:
            return self.json()
        except BadRequest:
            return None


@dataclass
class Answer:
    """One HTTP answer; ``headers`` is a list so duplicates (AWS sends some) pass through."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    reason: str | None = None

    @classmethod
    def json(cls, status: int, payload: object, headers: Iterable[tuple[str, str]] = ()) -> Answer:
        return cls(status, dump_json(payload), [("Content-Type", "application/json"), *headers])

    @classmethod
    def message(cls, status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> Answer:
        return cls.json(status, {"message": message}, headers)


# --- strict field checks shared by the JADA and SCC stand-ins ------------------------------------------------------

Check = Callable[[str, Any], None]
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_OFFSET_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$")
CENT = Decimal("0.01")


def _is_number(value: Any) -> bool:
    # bool is an int in Python; true/false where a number is due is a client bug, not a number.
    return not isinstance(value, bool) and isinstance(value, int | Decimal) and Decimal(value).is_finite()


def text(*, allow_empty: bool = False, max_length: int = 2000) -> Check:
    """A string; non-empty unless ``allow_empty``."""

    def check(name: str, value: Any) -> None:
        if not isinstance(value, str):
            raise FieldProblem(name, "must be a string")
        if not allow_empty and not value.strip():
            raise FieldProblem(name, "must not be empty")
        if len(value) > max_length:
            raise FieldProblem(name, f"must be at most {max_length} characters")

    return check


def one_of(*allowed: str) -> Check:
    def check(name: str, value: Any) -> None:
        if value not in allowed:
            raise FieldProblem(name, f"{value!r} must be {' or '.join(repr(a) for a in allowed)}")

    return check


def external_id(prefix: str) -> Check:
    """``<prefix><id>`` with an id of 1 to 64 characters (CONTRACT.md sections 5 and 6: ``boatsetter:<Booking ID>``)."""

    def check(name: str, value: Any) -> None:
        if not isinstance(value, str) or not value.startswith(prefix) or not 1 <= len(value) - len(prefix) <= 64:
            raise FieldProblem(name, f"{value!r} must be {prefix}<booking id of 1 to 64 characters>")

    return check


def iso_date(name: str, value: Any) -> None:
    """``YYYY-MM-DD``, a real calendar day."""
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise FieldProblem(name, f"{value!r} must be a date YYYY-MM-DD")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise FieldProblem(name, f"{value!r} is not a calendar date") from None


def offset_datetime(name: str, value: Any) -> None:
    """ISO 8601 with its UTC offset (``2026-12-04T10:00:00-08:00``); a naive time is refused."""
    if not isinstance(value, str) or not _ISO_OFFSET_DATETIME.match(value):
        raise FieldProblem(name, f"{value!r} must be ISO 8601 with a UTC offset, e.g. 2026-12-04T10:00:00-08:00")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise FieldProblem(name, f"{value!r} is not a real date and time") from None


def whole(low: int, high: int) -> Check:
    def check(name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise FieldProblem(name, f"{value!r} must be a whole number from {low} to {high}")

    return check


def number(
    *, above: Decimal | int | None = None, at_least: Decimal | int | None = None, at_most: Decimal | int | None = None
) -> Check:
    """A JSON number within bounds (strings such as "3.0" are refused)."""

    def check(name: str, value: Any) -> None:
        if not _is_number(value):
            raise FieldProblem(name, f"{value!r} must be a JSON number")
        if above is not None and not value > above:
            raise FieldProblem(name, f"{value} must be more than {above}")
        if at_least is not None and value < at_least:
            raise FieldProblem(name, f"{value} must be at least {at_least}")
        if at_most is not None and value > at_most:
            raise FieldProblem(name, f"{value} must be at most {at_most}")

    return check


def money(*, allow_negative: bool = False) -> Check:
    """A JSON number with at most two decimals (CONTRACT.md section 5); "840.75" as a string is refused."""

    def check(name: str, value: Any) -> None:
        if not _is_number(value):
            raise FieldProblem(name, f"{value!r} must be a JSON number (money, at most two decimals)")
        if Decimal(value) != Decimal(value).quantize(CENT):
            raise FieldProblem(name, f"{value} must have at most two decimals")
        if not allow_negative and value < 0:
            raise FieldProblem(name, f"{value} must not be negative")

    return check


def http_url(name: str, value: Any) -> None:
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        raise FieldProblem(name, f"{value!r} must be an http(s) URL")


def email_or_empty(name: str, value: Any) -> None:
    if not isinstance(value, str) or (value and not re.match(r"^[^@\s]+@[^@\s]+$", value)):
        raise FieldProblem(name, f"{value!r} must be an e-mail address or empty")


def list_of(item: Check, *, max_items: int = 200) -> Check:
    def check(name: str, value: Any) -> None:
        if not isinstance(value, list):
            raise FieldProblem(name, "must be a list")
        if len(value) > max_items:
            raise FieldProblem(name, f"must hold at most {max_items} items")
        for index, element in enumerate(value):
            item(f"{name}[{index}]", element)

    return check


def record(fields: Mapping[str, Check]) -> Check:
    """A JSON object holding every field of ``fields`` (others are allowed)."""

    def check(name: str, value: Any) -> None:
        if not isinstance(value, dict):
            raise FieldProblem(name, "must be a JSON object")
        check_fields(value, fields, partial=False, prefix=f"{name}.")

    return check


def check_fields(body: Mapping[str, Any], fields: Mapping[str, Check], *, partial: bool, prefix: str = "") -> None:
    """Check ``body`` against the table ``fields``; the first problem raises ``FieldProblem``.

    ``partial`` (a PATCH) checks only the fields present.
    """
    for name, check in fields.items():
        if name not in body:
            if not partial:
                raise FieldProblem(f"{prefix}{name}", "is required")
            continue
        check(f"{prefix}{name}", body[name])


# --- the service -------------------------------------------------------------------------------------------------


class _ServiceServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], service: SandboxService) -> None:
        self.service = service
        self._resets: set[int] = set()
        self._resets_lock = threading.Lock()
        super().__init__(address, _ServiceHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, dropped fault) is business as usual here; keep the console quiet.
        log.debug("%s: connection error from %s", self.service.name, client_address)

    def reset_when_closed(self, request: socket.socket) -> None:
        """Close ``request`` with a TCP RST instead of a FIN once the handler is done with it."""
        # SO_LINGER on, zero seconds: close() aborts the connection. The socket is really closed only after the
        # handler's files are (socket.close waits for them), so the RST comes at shutdown_request's close below.
        request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with self._resets_lock:
            self._resets.add(id(request))

    def shutdown_request(self, request: Any) -> None:
        with self._resets_lock:
            reset = id(request) in self._resets
            self._resets.discard(id(request))
        if reset:
            # No shutdown(SHUT_WR) first: its FIN would reach the client as a clean end of stream before the RST.
            self.close_request(request)
        else:
            super().shutdown_request(request)


class _DroppedConnection(Exception):
    pass


class _ServiceHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and "Expect: 100-continue" as boto3 sends for S3 uploads
    timeout = 120
    server: _ServiceServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s: %s", self.server.service.name, format % args)

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except BadRequest as exc:
            self.close_connection = True
            self.send(Answer.message(400, str(exc)))
            return
        split = urlsplit(self.path)
        query = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        request = ServiceRequest(self.command, self.path, split.path or "/", query, self.headers, body)
        self.server.service.serve(request, self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise BadRequest("Content-Length is not a number") from None
        return self.rfile.read(size)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest("malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(65537).strip():  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)

    def send(self, answer: Answer) -> None:
        """Write ``answer``; a client that already went away is ignored."""
        try:
            self.send_response_only(answer.status, answer.reason)
            names = {name.lower() for name, _ in answer.headers}
            for name, value in answer.headers:
                self.send_header(name, value)
            if "content-length" not in names:
                self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if self.command != "HEAD" and answer.body:
                self.wfile.write(answer.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError, OSError):
            self.close_connection = True

    def drop(self) -> None:
        """Close the connection without a word, as a crashed proxy or a lost network would."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def reset(self) -> None:
        """Reset the connection (TCP RST), as an overloaded load balancer does: the client reads ECONNRESET."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.server.reset_when_closed(self.connection)


class SandboxService:
    """A stand-in HTTP service on loopback, in its own thread, with faults, a request log and the admin API.

    Subclasses implement ``answer`` (auth and routes, doing the work) and ``stored``/``forget`` for their data.
    """

    name: ClassVar[str] = "service"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._address = (host, port)
        self._server: _ServiceServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.faults = FaultBook()
        self.requests = RequestLog()

    # lifecycle

    def start(self) -> Self:
        """Bind (port 0 picks a free one) and serve in a daemon thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _ServiceServer(self._address, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"sandbox-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; calls held by a ``hang`` fault are released."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self.name} sandbox is not running")
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:<port>`` (the admin API lives under it)."""
        return f"http://{self._address[0]}:{self.port}"

    @property
    def url(self) -> str:
        """The base URL a client is configured with."""
        return self.root_url

    # what tests and the admin API use

    def inject(self, fault: Fault | None = None, **fields: Any) -> Fault:
        """Arm a fault: ``inject(method="POST", path="/calendar", mode="status", status=503, count=1)``."""
        return self.faults.inject(fault if fault is not None else Fault(**fields))

    def chaos(
        self, rate: float, *, seed: int | None = None, method: str = "*", path: str = "*", kinds: tuple[str, ...] = ()
    ) -> list[Fault]:
        """From now on, ``rate`` of the matching calls fail, each of ``HTTP_FAULT_KINDS`` (or of ``kinds``, by
        name) taking an equal share; ``seed`` restarts the draws. Armed until ``clear_faults``."""
        chosen = [k for k in HTTP_FAULT_KINDS if not kinds or k[0] in kinds]
        unknown = set(kinds) - {k[0] for k in HTTP_FAULT_KINDS}
        if unknown or not chosen:
            raise ValueError(f"kinds: {sorted(unknown)} not among {[k[0] for k in HTTP_FAULT_KINDS]}")
        if seed is not None:
            self.faults.reseed(seed)
        share = rate / len(chosen)
        return [
            self.inject(method=method, path=path, mode=mode, status=status, count=None, rate=share)
            for _, mode, status in chosen
        ]

    def clear_faults(self) -> int:
        return self.faults.clear()

    def state(self) -> dict[str, Any]:
        """Everything stored, the faults still armed, and the request log."""
        return {
            "service": self.name,
            "url": self.url,
            **self.stored(),
            "faults": self.faults.pending(),
            "requests": self.requests.entries(),
        }

    def reset(self) -> None:
        """Forget everything: data, faults and the request log."""
        self.faults.clear()
        self.requests.clear()
        self.forget()

    def logged(self, method: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        """The request log, optionally only calls with this method and path (fnmatch pattern)."""
        return [
            entry
            for entry in self.requests.entries()
            if (method is None or entry["method"] == method.upper())
            and (path is None or fnmatch.fnmatchcase(entry["path"], path))
        ]

    # for subclasses

    def answer(self, request: ServiceRequest) -> Answer:
        """Authenticate, route and do the work of one call."""
        raise NotImplementedError

    def stored(self) -> dict[str, Any]:
        """The service's data for ``state()``."""
        return {}

    def forget(self) -> None:
        """Drop the service's data."""

    def fault_call(self, request: ServiceRequest) -> Call:
        """What faults are matched against; a service with an API stage strips it here."""
        return Call(request.method, request.path)

    def fault_from_json(self, data: object) -> Fault:
        """A fault from the admin API's body."""
        return Fault.from_json(data)

    def fault_answer(self, fault: Fault, call: Call, request: ServiceRequest) -> Answer:
        """The answer of a ``status`` fault."""
        headers = [("Retry-After", "1")] if fault.status == 429 else []
        return Answer.message(fault.status, f"sandbox fault: HTTP {fault.status}", headers)

    def log_entry(self, request: ServiceRequest, call: Call) -> dict[str, Any]:
        """The request log's record of a call: never a header value (tokens travel in headers)."""
        return {"method": request.method, "path": request.path, "query": request.query, "body": request.logged_body()}

    # the flow of one call

    def serve(self, request: ServiceRequest, handler: _ServiceHandler) -> None:
        if request.path.startswith(ADMIN_PREFIX):
            handler.send(self._admin(request))
            return
        call = self.fault_call(request)
        fault = self.faults.take(call)
        entry = {"at": datetime.now(UTC).isoformat(), **self.log_entry(request, call), "status": None}
        if fault is not None:
            entry["fault"] = fault.mode
        try:
            if fault is not None and fault.mode == "status":
                answer = self.fault_answer(fault, call, request)
            elif fault is not None and fault.mode in ("drop", "reset"):
                raise _DroppedConnection
            else:
                answer = self._answer_safely(request)
            if fault is not None and fault.mode == "lose_answer":
                entry["status"] = answer.status
                raise _DroppedConnection
        except _DroppedConnection:
            self.requests.append(entry)
            if fault is not None and fault.mode == "reset":
                handler.reset()
            else:
                handler.drop()
            return
        entry["status"] = answer.status
        self.requests.append(entry)
        if fault is not None and fault.mode == "hang":
            self._stopping.wait(fault.seconds)
        handler.send(answer)

    def _answer_safely(self, request: ServiceRequest) -> Answer:
        try:
            return self.answer(request)
        except BadRequest as exc:
            return Answer.message(400, str(exc))
        except FieldProblem as exc:
            return Answer.message(422, str(exc))
        except Exception:
            log.exception("%s sandbox failed on %s %s", self.name, request.method, request.path)
            return Answer.message(500, "internal error in the sandbox service")

    def _admin(self, request: ServiceRequest) -> Answer:
        route = (request.method, request.path.rstrip("/"))
        if route == ("POST", "/_sandbox/faults"):
            try:
                fault = self.inject(self.fault_from_json(request.json()))
            except BadRequest as exc:
                return Answer.message(400, str(exc))
            except (ValueError, TypeError) as exc:
                return Answer.message(422, str(exc))
            return Answer.json(201, {"fault": fault.to_json()})
        if route == ("POST", "/_sandbox/faults/seed"):
            body = request.json()
            seed = body.get("seed") if isinstance(body, dict) else None
            if isinstance(seed, bool) or not isinstance(seed, int):
                return Answer.message(422, "seed: must be a whole number")
            self.faults.reseed(seed)
            return Answer.json(200, {"seed": seed})
        if route == ("DELETE", "/_sandbox/faults"):
            return Answer.json(200, {"cleared": self.clear_faults()})
        if route == ("GET", "/_sandbox/faults"):
            return Answer.json(200, {"faults": self.faults.pending()})
        if route == ("GET", "/_sandbox/state"):
            return Answer.json(200, self.state())
        if route == ("POST", "/_sandbox/reset"):
            self.reset()
            return Answer.json(200, {"reset": True})
        return Answer.message(404, f"no sandbox admin route {request.method} {request.path}")


class Stoppable(Protocol):
    def stop(self) -> None: ...


def serve_until_signalled(services: Iterable[Stoppable], banner: str) -> None:
    """Run started services in the foreground until Ctrl-C or SIGTERM, then stop them (the CLIs use this)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(banner, flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for service in services:
            service.stop()
