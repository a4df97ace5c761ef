"""The one retry and timeout policy for every outside call, and the errors every hook raises.

CONTRACT.md section 8: every outside call has a timeout; 429, 5xx, timeouts and dropped connections are retried
with backoff; 400 and 422 fail the booking's step with the service's message; 401 and 403 fail fast naming the
connection id; no secret ever appears in a message. The HTTP hooks and CloudFront's "too many invalidations in
progress" retry with tenacity (``RetryPolicy.retrying()``); the AWS hooks leave the rest to botocore's standard
mode (``aws_client_config()``), and ``translate_aws_errors`` makes every AWS failure one of the errors below.
docs/RETRIES.md counts what each layer may add up to.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

import tenacity

if TYPE_CHECKING:
    from logging import Logger

    from botocore.client import BaseClient
    from botocore.config import Config

REDACTED = "***"
MESSAGE_LIMIT = 300

# AWS access key ids have a fixed shape; redacting it catches one echoed by a service or an emulator.
AWS_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b")


class Transient(Exception):
    """One attempt failed in a way that may not be final (429, 5xx, timeout, dropped connection): worth retrying.
    ``retry_after`` is the wait the service asked for (``Retry-After``), if any."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


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

    def retrying(
        self,
        *,
        attempts: int | None = None,
        retry: Callable[[BaseException], bool] | None = None,
        log: Logger | Any = None,
    ) -> tenacity.Retrying:
        """tenacity's ``Retrying`` for this policy, as ``HttpHook.run_with_advanced_retry`` builds one: ``attempts``
        tries in all (the policy's by default), retrying only what ``retry`` accepts (``Transient`` by default),
        waiting ``delay()`` (or the ``Retry-After`` a ``Transient`` carries) through ``sleep``, then re-raising
        the last failure. Use it as ``retrying(...)(call, *args)`` or ``for attempt in retrying(...)``."""

        def wait(state: tenacity.RetryCallState) -> float:
            failure = state.outcome.exception() if state.outcome is not None else None
            return self.delay(state.attempt_number, getattr(failure, "retry_after", None))

        def note(state: tenacity.RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome is not None else None
            log.info("%s; retry %d in %.1f s", failure, state.attempt_number, state.upcoming_sleep)

        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(attempts or self.attempts),
            wait=wait,
            retry=tenacity.retry_if_exception(retry) if retry else tenacity.retry_if_exception_type(Transient),
            sleep=self.sleep,
            before_sleep=note if log is not None else None,
            reraise=True,
        )

    def with_changes(self, **changes: Any) -> RetryPolicy:
        """A copy with some fields changed (a test's tiny timeout, a fake sleep)."""
        return replace(self, **changes)


HTTP_POLICY = RetryPolicy(attempts=4, first_delay=0.5, max_delay=8.0, connect_timeout=5.0, read_timeout=20.0)
# CloudFront refuses new invalidations while too many are in progress; that clears in minutes, not seconds. Only
# the waits count here: each try is a botocore call, with aws_client_config()'s timeouts and retries.
INVALIDATION_POLICY = RetryPolicy(attempts=7, first_delay=2.0, max_delay=60.0)
# botocore counts max_attempts as retries after the first try: 5 means six calls at most.
AWS_RETRIES = 5


def aws_client_config() -> Config:
    """The pipeline's botocore defaults for every AWS client: "standard" retries (throttling, 5xx, connection
    errors, with jittered backoff) and the HTTP policy's timeouts. ``AwsHook`` lays the connection's
    ``config_kwargs`` extra over them, where the amazon provider reads it: what the connection sets wins."""
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "max_attempts": AWS_RETRIES},
        connect_timeout=HTTP_POLICY.connect_timeout,
        read_timeout=HTTP_POLICY.read_timeout,
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
    return AWS_ACCESS_KEY_ID.sub(REDACTED, text)


def truncate(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """One line of at most ``limit`` characters: a service's message in an error must stay readable."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class ServiceError(Exception):
    """Base of every error a hook raises. ``status`` is the HTTP status when there was one, ``code`` AWS's error
    code when AWS answered one."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ServiceAuthError(ServiceError):
    """The service refused the connection's credentials (401/403): retrying cannot help; fix the connection."""


class ServiceRejected(ServiceError):
    """The service refused this request (400, 404, 409, 422, other 4xx). ``service_message`` is its reason."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "", service_message: str = "") -> None:
        super().__init__(message, status=status, code=code)
        self.service_message = service_message


class ServiceUnavailable(ServiceError):
    """A transient failure (429, 5xx, timeout, dropped connection) that outlived the policy's retries."""


# AWS error codes that mean "these credentials may not do this": fail fast, naming the connection. The doctor
# uses the same set.
AWS_AUTH_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnrecognizedClientException", "InvalidAccessKeyId",
     "InvalidClientTokenId", "InvalidSignatureException", "SignatureDoesNotMatch", "ExpiredToken",
     "ExpiredTokenException", "MissingAuthenticationToken"}
)  # fmt: skip
# Throttling and 5xx by their codes (some come as a 400): what outlived botocore's retries is ServiceUnavailable.
AWS_TRANSIENT_CODES = frozenset(
    {"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "TooManyRequestsException",
     "ProvisionedThroughputExceededException", "RequestLimitExceeded", "SlowDown", "ServiceUnavailable",
     "InternalError", "InternalServerError", "InternalFailure", "TooManyInvalidationsInProgress",
     "TransactionInProgressException"}
)  # fmt: skip
# Answers the caller reads itself, so they stay botocore's ClientError: a conditional write that lost its race
# (the ledger and the scrub decide what that means), a transaction cancelled by such a condition.
AWS_CONDITION_CODES = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})
# What an AWS error message names, per service: the kind of resource and the request parameter holding it.
_AWS_RESOURCES = {
    "s3": ("S3 bucket", "Bucket"),
    "dynamodb": ("DynamoDB table", "TableName"),
    "cloudfront": ("CloudFront distribution", "DistributionId"),
    "sqs": ("SQS queue", "QueueUrl"),
}
_RESOURCE = "charter_pipeline_resource"  # where a call's resource waits in botocore's request context


def aws_error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError or a translated ServiceError, else ''."""
    if isinstance(exc, ServiceError):
        return exc.code
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def aws_error(exc: Exception, *, service: str, conn_id: str | None, secrets: Iterable[str | None] = ()) -> ServiceError:
    """Translate a botocore/boto3 exception into the pipeline's error classes, with a secret-free message."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, NoCredentialsError

    detail = truncate(redact(str(exc), secrets))
    if isinstance(exc, ClientError):
        code = aws_error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in AWS_AUTH_CODES or status in (401, 403):
            return ServiceAuthError(
                f"{service} refused the credentials of connection {conn_id!r} ({code or status}). "
                "Check the connection's keys and permissions.",
                status=status,
                code=code,
            )
        if code in AWS_TRANSIENT_CODES or (isinstance(status, int) and status >= 500):
            return ServiceUnavailable(f"{service} is unavailable after retries: {detail}", status=status, code=code)
        return ServiceRejected(
            f"{service} rejected the request: {detail}", status=status, code=code, service_message=detail
        )
    if isinstance(exc, NoCredentialsError):
        return ServiceAuthError(f"{service}: connection {conn_id!r} provides no AWS credentials.")
    if isinstance(exc, ConnectionError | HTTPClientError):
        return ServiceUnavailable(f"{service} could not be reached after retries: {detail}")
    return ServiceError(f"{service} call failed: {type(exc).__name__}: {detail}")


def translate_aws_errors(
    client: BaseClient, conn_id: str | None, secrets: Callable[[], Iterable[str | None]] = tuple
) -> BaseClient:
    """Make every failure of ``client``'s calls (paginators too) one of the errors above, named after the resource
    (``DynamoDB table 'x'``) and the connection, with ``secrets()`` redacted; returns ``client``.

    Done with botocore's own events, once per client, so it holds for every call whoever makes it, after
    botocore's retries (``after-call`` sees the final answer). Only ``AWS_CONDITION_CODES`` stay ClientErrors.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    def note_resource(params: dict[str, Any], context: dict[str, Any], event_name: str, **_: Any) -> None:
        kind, parameter = _AWS_RESOURCES.get(event_name.split(".")[1], ("AWS", ""))
        context[_RESOURCE] = f"{kind} {params[parameter]!r}" if params.get(parameter) else kind

    def translated(exc: Exception, context: dict[str, Any]) -> ServiceError:
        return aws_error(exc, service=context.get(_RESOURCE, "AWS"), conn_id=conn_id, secrets=secrets())

    def answered(http_response: Any, parsed: dict[str, Any], model: Any, context: Any, **_: Any) -> None:
        if http_response.status_code >= 300 and parsed.get("Error", {}).get("Code") not in AWS_CONDITION_CODES:
            raise translated(ClientError(parsed, model.name), context)  # type: ignore[arg-type]

    def failed(exception: Exception, context: Any, **_: Any) -> None:
        if isinstance(exception, BotoCoreError):
            raise translated(exception, context) from None

    events = client.meta.events
    events.register("before-parameter-build", note_resource, unique_id="charter-pipeline-resource")
    events.register("after-call", answered, unique_id="charter-pipeline-answered")
    events.register("after-call-error", failed, unique_id="charter-pipeline-failed")
    return client
