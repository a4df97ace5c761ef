"""Every AWS call's failure translated (CONTRACT.md section 8), through the sandbox's AWS proxy in front of moto:
refused credentials fail fast (one request, no retry at any layer) naming ``aws_default``; other refusals carry
AWS's message; a lost conditional write stays the ClientError the ledger reads; no key in any message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from charter_pipeline.hooks.exports import ExportsHook
from charter_pipeline.hooks.guest_portal import GuestPortalHook
from charter_pipeline.hooks.ledger import LedgerHook
from charter_pipeline.hooks.policy import INVALIDATION_POLICY, ServiceAuthError, ServiceRejected
from charter_pipeline.hooks.scc_events import SccEventsTableHook
from tests.hooks.stand_ins import AWS_ACCESS_KEY, AWS_SECRET_KEY, Sleeps, unique

SESSION_ID = "7K3M9QX2HB4TR"
CONTENT_HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
AUTH_CODES = [
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
]


def _table(aws_client: Callable[[str], Any], key: str) -> str:
    name = unique("table")
    aws_client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def _refused_naming_the_connection(error: BaseException) -> None:
    assert isinstance(error, ServiceAuthError)
    assert "connection 'aws_default'" in str(error)
    assert AWS_ACCESS_KEY not in str(error)
    assert AWS_SECRET_KEY not in str(error)


@pytest.mark.parametrize("code", AUTH_CODES)
def test_refused_credentials_on_the_ledger_fail_fast_naming_aws_default(
    proxy: Any, botocore_waits: Sleeps, aws_client: Callable[[str], Any], code: str
) -> None:
    table = _table(aws_client, "booking_id")
    proxy.inject_error("dynamodb", "GetItem", code=code, status=400, count=10)
    with pytest.raises(ServiceAuthError) as refused:
        LedgerHook(table).get("BS-1001")
    _refused_naming_the_connection(refused.value)
    assert f"DynamoDB table {table!r}" in str(refused.value)
    assert proxy.count("dynamodb", "GetItem") == 1
    assert botocore_waits.waits == []


def test_an_access_denied_ledger_write_fails_the_task_without_airflow_retries(
    proxy: Any, botocore_waits: Sleeps, aws_client: Callable[[str], Any]
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from charter_pipeline.task_runtime import airflow_errors

    table = _table(aws_client, "booking_id")
    proxy.inject_error("dynamodb", "UpdateItem", code="AccessDeniedException", count=10)
    with pytest.raises(AirflowFailException, match="'aws_default'"), airflow_errors():
        LedgerHook(table).update("BS-1001", {"state": "published"})
    assert proxy.count("dynamodb", "UpdateItem") == 1


def test_refused_credentials_on_the_scc_events_table_fail_fast(
    proxy: Any, botocore_waits: Sleeps, aws_client: Callable[[str], Any]
) -> None:
    table = _table(aws_client, "event_id")
    proxy.inject_error("dynamodb", "GetItem", code="AccessDeniedException", count=10)
    with pytest.raises(ServiceAuthError) as refused:
        SccEventsTableHook(table).scrub_event("evt-1")
    _refused_naming_the_connection(refused.value)
    assert proxy.count("dynamodb", "GetItem") == 1


@pytest.mark.parametrize("operation", ["PutObject", "ListObjectsV2"])
def test_refused_credentials_on_s3_fail_fast(
    proxy: Any, botocore_waits: Sleeps, aws_client: Callable[[str], Any], operation: str
) -> None:
    bucket = unique("guest-pages")
    aws_client("s3").create_bucket(Bucket=bucket)
    proxy.inject_error("s3", operation, code="AccessDenied", count=10)
    calls: dict[str, Callable[[], Any]] = {
        "PutObject": lambda: GuestPortalHook(bucket).upload_page(SESSION_ID, "<p>hi</p>"),
        "ListObjectsV2": lambda: ExportsHook().list_exports(f"s3://{bucket}/incoming/"),
    }
    with pytest.raises(ServiceAuthError) as refused:
        calls[operation]()
    _refused_naming_the_connection(refused.value)
    assert f"S3 bucket {bucket!r}" in str(refused.value)
    assert proxy.count("s3", operation) == 1


def test_refused_credentials_on_cloudfront_fail_fast(
    proxy: Any, botocore_waits: Sleeps, aws_client: Callable[[str], Any]
) -> None:
    sleeps = Sleeps()
    portal = GuestPortalHook(
        "unused", "E2QWRUHEXAMPLE", invalidation_policy=INVALIDATION_POLICY.with_changes(sleep=sleeps)
    )
    proxy.inject_error("cloudfront", "CreateInvalidation", code="AccessDenied", count=10)
    with pytest.raises(ServiceAuthError) as refused:
        portal.invalidate_page(SESSION_ID, CONTENT_HASH)
    _refused_naming_the_connection(refused.value)
    assert "CloudFront distribution 'E2QWRUHEXAMPLE'" in str(refused.value)
    assert proxy.count("cloudfront", "CreateInvalidation") == 1
    assert sleeps.waits == []


def test_another_refusal_carries_aws_message_and_is_not_retried(
    proxy: Any, botocore_waits: Sleeps, aws_client: Callable[[str], Any]
) -> None:
    table = _table(aws_client, "booking_id")
    proxy.inject_error("dynamodb", "GetItem", code="ValidationException", status=400, count=10)
    with pytest.raises(ServiceRejected, match="ValidationException") as rejected:
        LedgerHook(table).get("BS-1001")
    assert rejected.value.status == 400
    assert rejected.value.code == "ValidationException"
    assert proxy.count("dynamodb", "GetItem") == 1


def test_a_lost_conditional_write_stays_the_client_error_the_ledger_reads(
    proxy: Any, aws_client: Callable[[str], Any]
) -> None:
    table = _table(aws_client, "booking_id")
    client = LedgerHook(table).get_conn()
    client.put_item(TableName=table, Item={"booking_id": {"S": "BS-1"}})
    with pytest.raises(ClientError) as lost:
        client.put_item(
            TableName=table,
            Item={"booking_id": {"S": "BS-1"}},
            ConditionExpression="attribute_not_exists(booking_id)",
        )
    assert lost.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
