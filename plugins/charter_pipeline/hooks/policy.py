"""The one retry and timeout policy for every outside call, and the errors every hook raises.

CONTRACT.md section 8: every outside call has a timeout; 429, 5xx, timeouts and dropped connections are retried
with backoff; 400 and 422 fail the booking's step with the service's message; 401 and 403 fail fast naming the
connection id; no secret ever appears in a message. The HTTP hooks retry with ``HTTP_POLICY``; the AWS hooks
leave retries to botocore's standard mode through ``aws_client_config()``; CloudFront invalidations, which are
refused while too many are in progress, wait longer with ``INVALIDATION_POLICY``.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:
    from botocore.config import Config

REDACTED = "***"
MESSAGE_LIMIT = 300

# AWS access key ids have a fixed shape; redacting it catches one echoed by a service or an emulator.
_AWS_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to try one outside call.

    ``attempts`` counts the first try. The wait before retry ``n`` (1-based) is exponential from ``first_delay``,
    capped at ``max_delay``, with "equal jitter" (half fixed, half random) so that parallel tasks spread out
    yet never retry at once. A ``Retry-After`` the service sends is honoured up to ``retry_after_cap``.
    ``sleep`` and ``jitter`` are injectable so that tests need not wait.
    """

    attempts: int = 4
    first_delay: float = 0.5
    max_delay: float = 8.0
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    retry_after_cap: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    jitter: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)`` as requests takes it."""
        return (self.connect_timeout, self.read_timeout)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap)
        ceiling = min(self.max_delay, self.first_delay * 2 ** (retry - 1))
        return ceiling / 2 + ceiling / 2 * self.jitter()

    def wait(self, retry: int, retry_after: float | None = None) -> float:
        """Sleep before retry number ``retry``; returns the seconds waited."""
        seconds = self.delay(retry, retry_after)
        self.sleep(seconds)
        return seconds

    def with_changes(self, **changes: Any) -> RetryPolicy:
        """A copy with some fields changed (a test's tiny timeout, a fake sleep)."""
        return replace(self, **changes)


HTTP_POLICY = RetryPolicy(attempts=4, first_delay=0.5, max_delay=8.0, connect_timeout=5.0, read_timeout=20.0)
# CloudFront refuses new invalidations while too many are in progress; that clears in minutes, not seconds.
INVALIDATION_POLICY = RetryPolicy(attempts=7, first_delay=2.0, max_delay=60.0, connect_timeout=5.0, read_timeout=30.0)
# botocore counts max_attempts as retries after the first try: 5 means six calls at most.
AWS_RETRIES = 5


def aws_client_config(policy: RetryPolicy = HTTP_POLICY) -> Config:
    """The botocore Config every AWS client of the pipeline uses (S3, DynamoDB, CloudFront, the ledger).

    botocore's "standard" retry mode retries throttling, 5xx and connection errors with jittered backoff,
    so the AWS hooks do not add a loop of their own. Passed as the hook's ``config``, it takes precedence
    over the connection's ``config_kwargs`` extra (the connection's ``endpoint_url`` is still honoured).
    """
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "max_attempts": AWS_RETRIES},
        connect_timeout=policy.connect_timeout,
        read_timeout=policy.read_timeout,
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or an HTTP date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret replaced by ``***``, also in its URL-encoded forms and AWS key id shape."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            text = text.replace(form, REDACTED)
    return _AWS_ACCESS_KEY_ID.sub(REDACTED, text)


def truncate(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """One line of at most ``limit`` characters: a service's message in an error must stay readable."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class ServiceError(Exception):
    """Base of every error a hook raises. ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ServiceAuthError(ServiceError):
    """The service refused the connection's credentials (401/403): retrying cannot help; fix the connection."""


class ServiceRejected(ServiceError):
    """The service refused this request (400, 404, 409, 422, other 4xx). ``service_message`` is its reason."""

    def __init__(self, message: str, *, status: int | None = None, service_message: str = "") -> None:
        super().__init__(message, status=status)
        self.service_message = service_message


class ServiceUnavailable(ServiceError):
    """A transient failure (429, 5xx, timeout, dropped connection) that outlived the policy's retries."""


_AWS_AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "MissingAuthenticationToken",
    }
)
_AWS_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "InternalServerError",
        "InternalFailure",
        "TooManyInvalidationsInProgress",
        "TransactionInProgressException",
    }
)


def aws_error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, else ''."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def aws_error(exc: Exception, *, service: str, conn_id: str | None, secrets: Iterable[str | None] = ()) -> ServiceError:
    """Translate a botocore/boto3 exception into the pipeline's error classes, with a secret-free message."""
    from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError, NoCredentialsError

    detail = truncate(redact(str(exc), secrets))
    if isinstance(exc, ClientError):
        code = aws_error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _AWS_AUTH_CODES or status in (401, 403):
            return ServiceAuthError(
                f"{service} refused the credentials of connection {conn_id!r} ({code or status}). "
                "Check the connection's keys and permissions.",
                status=status,
            )
        if code in _AWS_TRANSIENT_CODES or (isinstance(status, int) and status >= 500):
            return ServiceUnavailable(f"{service} is unavailable after retries: {detail}", status=status)
        return ServiceRejected(f"{service} rejected the request: {detail}", status=status, service_message=detail)
    if isinstance(exc, NoCredentialsError):
        return ServiceAuthError(f"{service}: connection {conn_id!r} provides no AWS credentials.")
    if isinstance(exc, ConnectionError | HTTPClientError):
        return ServiceUnavailable(f"{service} could not be reached after retries: {detail}")
    if isinstance(exc, BotoCoreError):
        return ServiceError(f"{service} call failed: {detail}")
    return ServiceError(f"{service} call failed: {type(exc).__name__}: {detail}")


@contextmanager
def translated_aws_errors(service: str, conn_id: str | None, secrets: Iterable[str | None] = ()) -> Iterator[None]:
    """Run an AWS call, re-raising botocore failures as ServiceError subclasses (already-translated ones pass)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise aws_error(exc, service=service, conn_id=conn_id, secrets=secrets) from None
