"""The booking webhook (CONTRACT.md section 14): a signed POST of bookings, stored as one JSON export.

``handler(event, context)`` is an AWS Lambda function URL handler (payload format 2.0). It verifies the
``X-Charter-Signature`` HMAC, validates the bookings with the very code the poll reads exports with
(``exports.read_export`` then ``booking.parse_booking``), and writes ``{"bookings": [...]}`` once under
``CHARTER_EXPORTS_URI`` + ``webhook/<sha256 of the body>.json``. From then on the pipeline treats it as any export:
the next poll (or, with the exports queue, a run a few seconds later) publishes the valid bookings and quarantines
the invalid ones with the same reasons this answer gave.

It imports only the standard library, boto3 (lazily, for ``s3://``) and package modules that import no Airflow,
so it runs in Lambda from a zip of those files (``sandbox/bootstrap.py`` builds it) and locally behind
``sandbox/webhook.py``.

Settings come from the environment: ``CHARTER_EXPORTS_URI``, ``CHARTER_WEBHOOK_SECRETS`` (comma-separated, any one
verifies) and ``CHARTER_TIMEZONE`` (the Variable's ``timezone``; default America/Los_Angeles), plus the usual AWS
variables (``AWS_ENDPOINT_URL`` is honoured by boto3 itself).

Decisions where the contract is silent (README lists them too):

- A payload element that is not an object is refused whole (400): a sender's bug, not a booking to quarantine.
- ``invalid[].reason`` is the very text the quarantine record will hold (``"Trip Date: must be ..."``);
  ``accepted`` counts the valid bookings.
- JSON numbers with a fraction are stored as their exact text (``840.75`` -> ``"840.75"``), which the parser
  reads the same (booking.py), so no digit is lost to a float.
- Missing settings answer 503 (the sender retries while the operator fixes the function), never 401.
- S3's 409 ConditionalRequestConflict (another conditional write to the key in flight) is retried; only a 412
  (the key exists) counts as stored by an earlier delivery.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from charter_pipeline.booking import FIELD_BY_COLUMN_KEY, BookingError, column_key, parse_booking
from charter_pipeline.exports import json_kind, read_export

log = logging.getLogger(__name__)
log.setLevel(logging.INFO)  # Lambda's root logger passes WARNING and up only; one INFO line a delivery is wanted

MAX_BODY_BYTES: Final = 256 * 1024
MAX_BOOKINGS: Final = 100
TIMESTAMP_TOLERANCE_SECONDS: Final = 300
SIGNATURE_HEADER: Final = "x-charter-signature"
FOLDER: Final = "webhook/"
DEFAULT_TIMEZONE: Final = "America/Los_Angeles"
ENV_EXPORTS_URI: Final = "CHARTER_EXPORTS_URI"
ENV_SECRETS: Final = "CHARTER_WEBHOOK_SECRETS"
ENV_TIMEZONE: Final = "CHARTER_TIMEZONE"

_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
# A conditional PutObject racing another one to the same key may get 409; AWS says to retry it.
_CONFLICT_ATTEMPTS = 4


class Outcome(Enum):
    """What the webhook answered, with its HTTP status (CONTRACT.md section 14's table, in its order)."""

    NOT_POST = "not POST", 405
    TOO_LARGE = "body too large", 413
    NOT_CONFIGURED = "not configured", 503
    UNSIGNED = "signature refused", 401
    BAD_PAYLOAD = "not a booking payload", 400
    ACCEPTED = "accepted", 202
    ALL_INVALID = "every booking invalid", 422
    STORAGE_FAILED = "storage failing", 503

    def __init__(self, label: str, status: int) -> None:
        self.label = label
        self.status = status


class Stored(Enum):
    """How a conditional write ended: this delivery stored the object, or an earlier one already had."""

    NEW = "stored"
    ALREADY = "already stored"


class StorageFailed(Exception):
    """The exports location could not be written (the sender should retry). The text names no secret."""


@dataclass(frozen=True)
class Invalid:
    """One booking the pipeline will quarantine: its 0-based index in the payload and the parser's reason."""

    index: int
    field: str
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"index": self.index, "field": self.field, "reason": self.reason}


@dataclass(frozen=True)
class Settings:
    """Where to store, how to verify, which zone local times are in; ``s3_client`` makes the S3 client."""

    exports_uri: str
    secrets: tuple[bytes, ...] = field(repr=False)
    timezone: ZoneInfo
    s3_client: Callable[[], Any] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``CHARTER_*`` variables; raises ValueError naming the variable (never its value)."""
        env = os.environ if environ is None else environ
        exports_uri = env.get(ENV_EXPORTS_URI, "").strip()
        _location(exports_uri)  # refuse a bad URI now, not after a sender's delivery is verified
        secrets = parse_secrets(env.get(ENV_SECRETS, ""))
        if not secrets:
            raise ValueError(f"{ENV_SECRETS} is not set (one or more secrets, comma-separated)")
        zone = env.get(ENV_TIMEZONE, "").strip() or DEFAULT_TIMEZONE
        try:
            timezone = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{ENV_TIMEZONE}: {zone!r} is not an IANA time zone") from None
        return cls(exports_uri, secrets, timezone)


def parse_secrets(text: str) -> tuple[bytes, ...]:
    """``CHARTER_WEBHOOK_SECRETS`` as secrets: comma-separated, each trimmed of spaces, empty ones dropped."""
    return tuple(part.strip().encode("utf-8") for part in text.split(",") if part.strip())


def sign(body: bytes, secret: str | bytes, timestamp: int) -> str:
    """The ``X-Charter-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    digest = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def stored_key(body: bytes) -> str:
    """The object a body is stored as, relative to the exports location: ``webhook/<sha256>.json``."""
    return f"{FOLDER}{hashlib.sha256(body).hexdigest()}.json"


def handler(event: Mapping[str, Any], context: object = None) -> dict[str, Any]:
    """The Lambda entry point: ``respond`` with settings from the environment."""
    request_id = str(getattr(context, "aws_request_id", "") or "")
    return respond(event, Settings.from_environment, request_id=request_id)


def respond(
    event: Mapping[str, Any],
    settings: Settings | Callable[[], Settings],
    *,
    now: datetime | None = None,
    request_id: str = "",
) -> dict[str, Any]:
    """Answer one function URL event by the contract's table, storing the bookings when it says so.

    ``settings`` may be a callable, read only once the method and the size have been checked (so a GET or an
    oversized body gets its own answer even when the settings are missing).
    """
    request_id = request_id or _request_id(event)
    if not _is_post(event):
        return _answer(Outcome.NOT_POST, {"error": "only POST is accepted"}, request_id)
    body = _raw_body(event)
    if body is None:
        return _answer(Outcome.TOO_LARGE, {"error": f"the body is over {MAX_BODY_BYTES} bytes"}, request_id)
    if not isinstance(settings, Settings):
        try:
            settings = settings()
        except ValueError as exc:
            error = {"error": "the webhook is not configured; retry later"}
            return _answer(Outcome.NOT_CONFIGURED, error, request_id, note=str(exc))
    if isinstance(body, _Unreadable):
        return _answer(Outcome.BAD_PAYLOAD, {"error": body.reason}, request_id, note=body.reason)
    received = (now or datetime.now(UTC)).astimezone(UTC)
    refused = verify(_header(event, SIGNATURE_HEADER), body, settings.secrets, now=received.timestamp())
    if refused:
        return _answer(Outcome.UNSIGNED, {"error": refused}, request_id, note=refused)
    try:
        bookings = _bookings(body)
    except ValueError as exc:  # the messages quote no value from the body
        return _answer(Outcome.BAD_PAYLOAD, {"error": str(exc)}, request_id, note=str(exc))
    key = stored_key(body)
    document = _stored_document(bookings, received)
    invalid = validate(key, document, settings.timezone)
    try:
        stored = store_once(settings, key, document)
    except StorageFailed as exc:
        error = {"error": "the bookings could not be stored; retry later"}
        return _answer(Outcome.STORAGE_FAILED, error, request_id, note=f"storing {key} failed: {exc}")
    accepted = len(bookings) - len(invalid)
    outcome = Outcome.ACCEPTED if accepted else Outcome.ALL_INVALID
    # Index and column only: a reason may quote a guest's name or e-mail address.
    fields = ", ".join(f"[{item.index}] {item.field}" for item in invalid)
    note = f"{stored.value} {key} ({len(bookings)} booking(s), {len(invalid)} invalid{': ' if fields else ''}{fields})"
    answer: dict[str, Any] = {"accepted": accepted, "key": key}
    if invalid:
        answer["invalid"] = [item.to_dict() for item in invalid]
    if outcome is Outcome.ALL_INVALID:
        answer["error"] = "no booking is valid; they are stored and will be quarantined with these reasons"
    return _answer(outcome, answer, request_id, note=note)


def verify(header: str | None, body: bytes, secrets: tuple[bytes, ...], *, now: float) -> str:
    """Why a signature header does not verify ``body`` ("" when it does): missing, malformed, wrong or stale.

    Any ``v1`` matching any secret verifies (rotation: a sender may sign with the old and the new secret). Digests are
    compared in constant time.
    """
    if not header or not header.strip():
        return "X-Charter-Signature is missing"
    timestamps: set[str] = set()
    digests: list[str] = []
    for part in header.split(","):
        name, equals, value = part.strip().partition("=")
        name, value = name.strip(), value.strip()
        if not equals:
            return "X-Charter-Signature is malformed: expected t=<unix seconds>,v1=<hex>"
        if name == "t":
            timestamps.add(value)
        elif name == "v1":
            digests.append(value)
        # other schemes (v0=...) are ignored, so a sender may add one before this receiver knows it
    if len(timestamps) != 1 or not digests:
        return "X-Charter-Signature is malformed: expected t=<unix seconds>,v1=<hex>"
    (timestamp,) = timestamps
    if not _UNIX_SECONDS.fullmatch(timestamp) or not all(_HEX_DIGEST.fullmatch(d) for d in digests):
        return "X-Charter-Signature is malformed: expected t=<unix seconds>,v1=<64 hex digits>"
    signed = timestamp.encode() + b"." + body
    expected = [hmac.new(secret, signed, hashlib.sha256).hexdigest() for secret in secrets]
    # Every comparison runs, so the time taken says nothing about which digest or secret came close.
    matched = [hmac.compare_digest(want, given.lower()) for want in expected for given in digests]
    if not any(matched):
        return "X-Charter-Signature does not match the body"
    if abs(now - int(timestamp)) > TIMESTAMP_TOLERANCE_SECONDS:
        return f"X-Charter-Signature's t is more than {TIMESTAMP_TOLERANCE_SECONDS} s from now (replay or clock skew)"
    return ""


def validate(key: str, document: Mapping[str, Any], tz: ZoneInfo) -> list[Invalid]:
    """The bookings the pipeline will quarantine, read exactly as the poll will read the stored object."""
    invalid: list[Invalid] = []
    for row in read_export(key, _encoded(document), zone=tz.key):
        try:
            parse_booking(row.values, tz)
        except BookingError as error:
            invalid.append(Invalid(row.row - 1, error.field, str(error)))
    return invalid


def store_once(settings: Settings, key: str, document: Mapping[str, Any]) -> Stored:
    """Write the document at the exports location + ``key`` unless something is there already (never rewritten).

    S3: a conditional ``PutObject`` (``If-None-Match: *``). A folder: an exclusive hard link of a fully written
    hidden temp file, so no partial file is ever visible and the first writer wins.
    """
    scheme, bucket, prefix = _location(settings.exports_uri)
    data = _encoded(document)
    if scheme == "file":
        return _store_in_folder(Path(prefix), key, data)
    client = settings.s3_client() if settings.s3_client else _lambda_s3_client()
    return _store_in_s3(client, bucket, prefix + key, data)


def _store_in_s3(client: Any, bucket: str, key: str, data: bytes) -> Stored:
    from botocore.exceptions import BotoCoreError, ClientError

    for attempt in range(_CONFLICT_ATTEMPTS):
        try:
            client.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json", IfNoneMatch="*")
            return Stored.NEW
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if error.get("Code") == "PreconditionFailed" or status == 412:
                return Stored.ALREADY
            if error.get("Code") == "ConditionalRequestConflict" or status == 409:
                time.sleep(0.1 * (attempt + 1))
                continue
            raise StorageFailed(f"S3 answered {status} {error.get('Code', '')}".rstrip()) from None
        except BotoCoreError as exc:
            raise StorageFailed(type(exc).__name__) from None
    raise StorageFailed("S3 kept answering 409 ConditionalRequestConflict")


def _store_in_folder(folder: Path, key: str, data: bytes) -> Stored:
    target = folder / key
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Hidden while written: a name starting with "." is never an export (exports.is_export_name).
        handle, temporary = tempfile.mkstemp(prefix=".incoming-", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            try:
                os.link(temporary, target)  # atomic and exclusive: FileExistsError when an earlier delivery won
            except FileExistsError:
                return Stored.ALREADY
            return Stored.NEW
        finally:
            os.unlink(temporary)
    except OSError as exc:
        raise StorageFailed(f"{type(exc).__name__} ({exc.strerror or 'error'})") from None


@lru_cache(maxsize=1)
def _lambda_s3_client() -> Any:
    """One S3 client per Lambda container (made once: about 0.2 s), with short timeouts and botocore's retries."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        config=Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"}),
    )


def _location(uri: str) -> tuple[str, str, str]:
    """``s3://bucket/prefix/`` -> ("s3", bucket, prefix/); ``file:///folder/`` -> ("file", "", /folder/)."""
    parts = urlsplit(uri)
    if parts.scheme == "s3" and parts.netloc:
        prefix = parts.path.lstrip("/")
        return "s3", parts.netloc, prefix if not prefix or prefix.endswith("/") else prefix + "/"
    if parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path.startswith("/"):
        folder = unquote(parts.path)
        return "file", "", folder if folder.endswith("/") else folder + "/"
    raise ValueError(f"{ENV_EXPORTS_URI} must be s3://bucket/prefix/ or file:///absolute/folder/")


class _Unreadable:
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _raw_body(event: Mapping[str, Any]) -> bytes | _Unreadable | None:
    """The body's bytes as signed (base64 decoded when the event says so); None when over the limit.

    The size is checked before anything is decoded beyond what measuring it needs.
    """
    body = event.get("body") or ""
    if not isinstance(body, str):
        return _Unreadable("the event's body is not text")
    if event.get("isBase64Encoded"):
        if len(body) > (MAX_BODY_BYTES + 2) // 3 * 4 + 4:
            return None
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return _Unreadable("the event's body is not valid base64")
    else:
        if len(body) > MAX_BODY_BYTES:  # at least one byte a character
            return None
        try:
            data = body.encode("utf-8")
        except UnicodeEncodeError:
            return _Unreadable("the body is not UTF-8")
    return None if len(data) > MAX_BODY_BYTES else data


def _bookings(body: bytes) -> list[dict[str, Any]]:
    """The payload's bookings (one object, an array, or ``{"bookings": [...]}``); ValueError says what is wrong."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("the body is not UTF-8 JSON") from None
    try:
        document = json.loads(text, parse_float=Decimal, parse_constant=Decimal)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError):
        raise ValueError("the body is not JSON this webhook can read") from None
    if isinstance(document, dict) and "bookings" in document:
        bookings = document["bookings"]
        if not isinstance(bookings, list):
            raise ValueError('"bookings" must be an array of booking objects')
    elif isinstance(document, dict):
        bookings = [document]
    elif isinstance(document, list):
        bookings = document
    else:
        raise ValueError('the body must be a booking object, an array of them, or {"bookings": [...]}')
    if not bookings:
        raise ValueError("the body holds no booking")
    if len(bookings) > MAX_BOOKINGS:
        raise ValueError(f"the body holds {len(bookings)} bookings; at most {MAX_BOOKINGS} at once")
    for index, booking in enumerate(bookings):
        if not isinstance(booking, dict):
            raise ValueError(f"booking {index} is {json_kind(booking)}, not a booking object")
    return bookings


def _stored_document(bookings: list[dict[str, Any]], received: datetime) -> dict[str, Any]:
    """``{"bookings": [...]}`` with the receipt time as ``updated_at`` where a booking has none (section 14)."""
    stamp = received.isoformat(timespec="seconds")
    stored = []
    for booking in bookings:
        dated = any(
            FIELD_BY_COLUMN_KEY.get(column_key(name)) == "updated_at" and not _blank(value)
            for name, value in booking.items()
        )
        stored.append(booking if dated else {**booking, "updated_at": stamp})
    return {"bookings": stored}


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _encoded(document: Mapping[str, Any]) -> bytes:
    # Decimals (JSON numbers with a fraction) as their exact text: the parser reads "840.75" as 840.75.
    return json.dumps(document, ensure_ascii=False, default=str).encode("utf-8")


def _is_post(event: Mapping[str, Any]) -> bool:
    http = (event.get("requestContext") or {}).get("http") or {}
    return str(http.get("method", "")).upper() == "POST"


def _header(event: Mapping[str, Any], name: str) -> str | None:
    headers = event.get("headers") or {}
    value = headers.get(name)
    if value is None:  # function URLs lower-case header names; another front end might not
        value = next((v for k, v in headers.items() if str(k).lower() == name), None)
    return value if isinstance(value, str) else None


def _request_id(event: Mapping[str, Any]) -> str:
    return str((event.get("requestContext") or {}).get("requestId", ""))


def _answer(outcome: Outcome, body: Mapping[str, Any], request_id: str, *, note: str = "") -> dict[str, Any]:
    """The function URL response, and the delivery's one log line (``note`` never holds a secret or guest data)."""
    log.log(
        logging.ERROR if outcome.status >= 500 else logging.INFO,
        "webhook %s: %d %s%s",
        request_id or "-",
        outcome.status,
        outcome.label,
        f": {note}" if note else "",
    )
    headers = {"content-type": "application/json", "cache-control": "no-store"}
    if request_id:
        headers["x-request-id"] = request_id
    if outcome is Outcome.NOT_POST:
        headers["allow"] = "POST"
    return {"statusCode": outcome.status, "headers": headers, "body": json.dumps(body, ensure_ascii=False)}
