"""The one retry/timeout policy, the secret redaction and the AWS error translation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from charter_pipeline.hooks.policy import (
    AWS_RETRIES,
    HTTP_POLICY,
    RetryPolicy,
    ServiceAuthError,
    ServiceRejected,
    ServiceUnavailable,
    Transient,
    aws_client_config,
    aws_error,
    parse_retry_after,
    redact,
    truncate,
)
from tests.hooks.stand_ins import AWS_ACCESS_KEY, AWS_SECRET_KEY, Sleeps


def test_backoff_doubles_from_first_delay_up_to_the_cap() -> None:
    policy = RetryPolicy(first_delay=0.5, max_delay=8.0, jitter=lambda: 1.0)
    assert [policy.delay(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_jitter_keeps_at_least_half_of_the_backoff() -> None:
    policy = RetryPolicy(first_delay=1.0, max_delay=8.0, jitter=lambda: 0.0)
    assert [policy.delay(n) for n in range(1, 5)] == [0.5, 1.0, 2.0, 4.0]


def test_retry_after_is_honoured_up_to_its_cap() -> None:
    policy = RetryPolicy(retry_after_cap=30.0)
    assert policy.delay(1, retry_after=7.0) == 7.0
    assert policy.delay(1, retry_after=3600.0) == 30.0


def test_retrying_sleeps_through_the_injected_sleep_and_reraises_the_last_failure() -> None:
    sleeps = Sleeps()
    policy = HTTP_POLICY.with_changes(sleep=sleeps, jitter=lambda: 1.0)
    tries: list[int] = []

    def flaky() -> None:
        tries.append(1)
        raise Transient(f"attempt {len(tries)}", retry_after=7.0 if len(tries) == 2 else None)

    with pytest.raises(Transient, match="attempt 4"):
        policy.retrying()(flaky)
    assert len(tries) == HTTP_POLICY.attempts
    assert sleeps.waits == [0.5, 7.0, 2.0]  # a Retry-After wins over the backoff


def test_retrying_leaves_other_failures_alone() -> None:
    sleeps = Sleeps()
    tries: list[int] = []

    def refused() -> None:
        tries.append(1)
        raise ServiceRejected("no")

    with pytest.raises(ServiceRejected):
        HTTP_POLICY.with_changes(sleep=sleeps).retrying()(refused)
    assert (len(tries), sleeps.waits) == (1, [])


def test_timeout_is_connect_then_read() -> None:
    assert HTTP_POLICY.timeout == (5.0, 20.0)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), ("0", 0.0), ("-3", 0.0), ("Wed, 21 Oct 2026 07:28:30 GMT", 30.0), ("soon", None), (None, None)],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    now = datetime(2026, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == seconds


def test_redact_hides_the_secret_also_url_encoded_and_aws_key_ids() -> None:
    secret = "p@ss/word+1"
    text = f"echo {secret} and p%40ss%2Fword%2B1 and p%40ss%2Fword%2B1 then {AWS_ACCESS_KEY}"
    cleaned = redact(text, [secret, None, ""])
    assert cleaned == "echo *** and *** and *** then ***"


def test_truncate_makes_one_short_line() -> None:
    assert truncate("a\n  b\tc") == "a b c"
    long = truncate("x" * 1000, limit=50)
    assert len(long) == 50
    assert long.endswith("…")


def test_aws_client_config_is_standard_mode_with_timeouts() -> None:
    options = vars(aws_client_config())  # botocore sets Config options as plain attributes the stubs omit
    assert options["retries"] == {"mode": "standard", "max_attempts": AWS_RETRIES}
    assert (options["connect_timeout"], options["read_timeout"]) == (5.0, 20.0)


def _client_error(code: str, status: int, message: str = "boom") -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "PutObject")


def test_aws_auth_errors_name_the_connection_without_the_key() -> None:
    error = aws_error(
        _client_error("InvalidAccessKeyId", 403, f"key {AWS_ACCESS_KEY} unknown"), service="S3", conn_id="aws_default"
    )
    assert isinstance(error, ServiceAuthError)
    assert "'aws_default'" in str(error)
    assert AWS_ACCESS_KEY not in str(error)


def test_aws_throttling_and_5xx_are_unavailable_other_4xx_rejected() -> None:
    assert isinstance(aws_error(_client_error("SlowDown", 503), service="S3", conn_id="c"), ServiceUnavailable)
    assert isinstance(aws_error(_client_error("Weird", 500), service="S3", conn_id="c"), ServiceUnavailable)
    rejected = aws_error(
        _client_error("NoSuchBucket", 404, f"no bucket; secret {AWS_SECRET_KEY}"),
        service="S3",
        conn_id="c",
        secrets=[AWS_SECRET_KEY],
    )
    assert isinstance(rejected, ServiceRejected)
    assert "NoSuchBucket" in str(rejected) or "no bucket" in str(rejected)
    assert AWS_SECRET_KEY not in str(rejected)
    unreachable = aws_error(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), service="S3", conn_id="c")
    assert isinstance(unreachable, ServiceUnavailable)
