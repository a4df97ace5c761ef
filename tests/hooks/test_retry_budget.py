"""docs/RETRIES.md holds: each kind of outside call, driven against a stand-in that always fails, makes exactly the
requests the doc's table says, and every number in the doc's tables follows from the constants (no drift)."""

from __future__ import annotations

import json
import os
import runpy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from charter_pipeline.hooks.guest_portal import GuestPortalHook
from charter_pipeline.hooks.jada_calendar import JadaCalendarHook
from charter_pipeline.hooks.ledger import LedgerHook
from charter_pipeline.hooks.ops_alerts import OpsAlertsHook
from charter_pipeline.hooks.policy import (
    AWS_RETRIES,
    HTTP_POLICY,
    INVALIDATION_POLICY,
    RetryPolicy,
    ServiceUnavailable,
    aws_client_config,
)
from charter_pipeline.hooks.scc import ShipCaptainCrewHook
from charter_pipeline.hooks.scc_events import MAX_SCRUB_ROUNDS, SccEventsTableHook
from sandbox.alerts import AlertReceiver
from tests.hooks.stand_ins import FakeService, Sleeps, http_conn_json, unique

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "RETRIES.md"
SESSION_ID = "7K3M9QX2HB4TR"
CONTENT_HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

# --- the worst case, from the constants ---------------------------------------------------------------------------


def _request_seconds(connect: float, read: float) -> float:
    return connect + read


def http_wait(policy: RetryPolicy) -> float:
    """The longest wait before one HTTP retry: a capped Retry-After, or the backoff's ceiling."""
    return max(policy.retry_after_cap, policy.max_delay)


def http_call(policy: RetryPolicy = HTTP_POLICY) -> tuple[int, float]:
    request = _request_seconds(*policy.timeout)
    return policy.attempts, policy.attempts * request + (policy.attempts - 1) * http_wait(policy)


def http_create(policy: RetryPolicy = HTTP_POLICY) -> tuple[int, float]:
    """``attempts`` POSTs, ``attempts`` lookups (before each retry and after the last POST), each a whole GET."""
    lookup_requests, lookup_seconds = http_call(policy)
    posts = policy.attempts
    request = _request_seconds(*policy.timeout)
    return (
        posts + posts * lookup_requests,
        posts * request + posts * http_wait(policy) + posts * lookup_seconds,
    )


def aws_requests() -> int:
    retries = aws_client_config().retries or {}
    assert retries == {"mode": "standard", "max_attempts": AWS_RETRIES}
    return AWS_RETRIES + 1  # botocore's max_attempts counts the retries after the first request


def botocore_wait(retry: int) -> float:
    """botocore's standard mode: rand(0..1) x min(2^(n-1), 20) s, plus at most 5 s for AWS's x-amz-retry-after."""
    return min(2 ** (retry - 1), 20) + 5


def aws_call() -> tuple[int, float]:
    config = aws_client_config()
    request = _request_seconds(config.connect_timeout, config.read_timeout)
    requests = aws_requests()
    return requests, requests * request + sum(botocore_wait(n) for n in range(1, requests))


def invalidation() -> tuple[int, float]:
    requests, seconds = aws_call()
    tries = INVALIDATION_POLICY.attempts
    waits = sum(
        min(INVALIDATION_POLICY.max_delay, INVALIDATION_POLICY.first_delay * 2 ** (n - 1)) for n in range(1, tries)
    )
    return tries * requests, tries * seconds + waits


def scrub() -> tuple[int, float]:
    requests, seconds = aws_call()
    calls = (MAX_SCRUB_ROUNDS + 1) + MAX_SCRUB_ROUNDS  # a read per round and the read-back; a write per round
    return calls * requests, calls * seconds


WORST_CASE: dict[str, Callable[[], tuple[int, float]]] = {
    "JADA/SCC lookup": http_call,
    "JADA/SCC patch": http_call,
    "JADA/SCC create": http_create,
    "ops alert POST": http_call,
    "S3": aws_call,
    "DynamoDB": aws_call,
    "SCC notes scrub": scrub,
    "CloudFront CreateInvalidation": invalidation,
}


def doc_rows(header: str) -> list[list[str]]:
    """The rows of the doc's table whose header row starts with ``header``."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_every_call_kind_in_the_doc_has_the_numbers_the_constants_give() -> None:
    rows = {row[0]: row for row in doc_rows("call")}
    assert len(rows) == len(WORST_CASE)
    for kind, worst in WORST_CASE.items():
        row = next(row for name, row in rows.items() if name.startswith(kind))
        requests, seconds = worst()
        assert (int(row[2]), float(row[3])) == (requests, seconds), kind


def booking_dag_default_args() -> dict[str, Any]:
    dag = runpy.run_path(str(REPO / "dags" / "charter_booking_pipeline.py"))["charter_booking_pipeline"]()
    return dict(dag.default_args)


def test_the_task_tries_in_the_doc_are_the_dags() -> None:
    args = booking_dag_default_args()
    tries = args["retries"] + 1
    waits = []
    for try_number in range(1, tries):
        # Airflow: retry_delay x multiplier^(try-1), plus less than as much again (its per-task jitter), capped.
        least = args["retry_delay"].total_seconds() * args["retry_exponential_backoff"] ** (try_number - 1)
        waits.append(min(2 * least - 1, args["max_retry_delay"].total_seconds()))
    (row,) = doc_rows("DAG")
    assert row[0] == "charter_booking_pipeline"
    assert int(row[1]) == tries
    assert [float(w) for w in row[2].split(",")] == waits
    lookups, seconds = http_call()
    assert f"3 x {lookups} = {3 * lookups}" in DOC.read_text()
    assert tries == 3
    assert f"3 x {seconds:.0f} + {sum(waits):.0f} = {3 * seconds + sum(waits):.0f} s" in DOC.read_text()


# --- the HTTP calls, against the scriptable stand-in ---------------------------------------------------------------

ALWAYS = 40  # more faults than any call makes requests


def capped_policy(sleeps: Sleeps) -> RetryPolicy:
    """The production policy, but fast timeouts and no real waits."""
    return HTTP_POLICY.with_changes(connect_timeout=1.0, read_timeout=0.3, sleep=sleeps, jitter=lambda: 1.0)


@pytest.mark.parametrize("service_name", ["jada", "scc"])
def test_a_lookup_makes_at_most_the_policy_attempts(
    request: pytest.FixtureRequest, service_name: str, sleeps: Sleeps
) -> None:
    service: FakeService = request.getfixturevalue(service_name)
    service.fail_next("GET", *["429"] * ALWAYS)
    service.retry_after = "86400"  # every wait the longest: Retry-After, capped
    lookups: dict[str, Callable[[], Any]] = {
        "jada": lambda: JadaCalendarHook(policy=capped_policy(sleeps)).find_entries("BS-1"),
        "scc": lambda: ShipCaptainCrewHook(policy=capped_policy(sleeps)).find_events("BS-1"),
    }
    with pytest.raises(ServiceUnavailable):
        lookups[service_name]()
    requests, seconds = http_call()
    assert len(service.calls("GET")) == requests
    assert sum(sleeps.waits) == seconds - requests * _request_seconds(*HTTP_POLICY.timeout)


def test_a_patch_makes_at_most_the_policy_attempts(jada: FakeService, scc: FakeService, sleeps: Sleeps) -> None:
    jada.fail_next("PATCH", *["503"] * ALWAYS)
    scc.fail_next("PATCH", *["503"] * ALWAYS)
    with pytest.raises(ServiceUnavailable):
        JadaCalendarHook(policy=capped_policy(sleeps)).update_entry("calendar-1", {"status": "cancelled"})
    with pytest.raises(ServiceUnavailable):
        ShipCaptainCrewHook(policy=capped_policy(sleeps)).cancel_event("event-1")
    assert len(jada.calls("PATCH")) == len(scc.calls("PATCH")) == http_call()[0]


def test_a_create_in_the_worst_case_makes_the_documented_requests_and_waits(jada: FakeService, sleeps: Sleeps) -> None:
    """Every POST is lost, and every lookup answers (nothing) only at its last attempt: the most requests a create
    can make. Never a second record: the POSTs all failed before creating."""
    jada.retry_after = "86400"
    jada.fail_next("POST", *["429"] * ALWAYS)
    jada.fail_next("GET", *(["429"] * (HTTP_POLICY.attempts - 1) + [""]) * HTTP_POLICY.attempts)
    with pytest.raises(ServiceUnavailable, match=f"after {HTTP_POLICY.attempts} attempt"):
        JadaCalendarHook(policy=capped_policy(sleeps)).create_entry({"external_id": "boatsetter:BS-1"})
    requests, seconds = http_create()
    assert len(jada.calls("POST")) == HTTP_POLICY.attempts
    assert len(jada.calls()) == requests
    assert sum(sleeps.waits) == seconds - requests * _request_seconds(*HTTP_POLICY.timeout)
    assert jada.records == {}


def test_a_create_against_a_service_that_fails_everything_stops_at_the_first_failed_lookup(
    scc: FakeService, sleeps: Sleeps
) -> None:
    scc.fail_next("POST", *["503"] * ALWAYS)
    scc.fail_next("GET", *["503"] * ALWAYS)
    with pytest.raises(ServiceUnavailable, match="GET /events"):
        ShipCaptainCrewHook(policy=capped_policy(sleeps), money_findings=lambda _: []).create_event(
            {"external_ref": "boatsetter:BS-1"}
        )
    assert (len(scc.calls("POST")), len(scc.calls("GET"))) == (1, HTTP_POLICY.attempts)


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[AlertReceiver]:
    service = AlertReceiver(token="").start()
    monkeypatch.setenv("AIRFLOW_CONN_OPS_ALERTS", http_conn_json(service.url, ""))
    yield service
    service.stop()


def test_an_alert_post_makes_at_most_the_policy_attempts(receiver: AlertReceiver, sleeps: Sleeps) -> None:
    from charter_pipeline.alerts import Alert, alert_id

    receiver.inject(method="POST", status=503, count=ALWAYS)
    alert = Alert("crew_pending", "BS-1", "Crew not confirmed for booking BS-1", alert_id("crew_pending", "BS-1", []))
    with pytest.raises(ServiceUnavailable):
        OpsAlertsHook(policy=capped_policy(sleeps)).send(alert)
    assert len([e for e in receiver.requests.entries() if e.get("method") == "POST"]) == http_call()[0]


# --- the AWS calls, through the sandbox's fault-injecting proxy in front of moto -----------------------------------


@pytest.fixture
def table(ledger_table: str) -> str:
    return ledger_table


@pytest.fixture
def bucket(aws_client: Callable[[str], Any]) -> str:
    name = unique("guest-pages")
    aws_client("s3").create_bucket(Bucket=name)
    aws_client("s3").put_object(Bucket=name, Key="incoming/a.csv", Body=b"x")
    return name


def _dynamodb_calls(table: str) -> dict[str, Callable[[Any], Any]]:
    key = {"booking_id": {"S": "BS-1"}}
    return {
        "GetItem": lambda client: client.get_item(TableName=table, Key=key),
        "PutItem": lambda client: client.put_item(TableName=table, Item=key),
        "UpdateItem": lambda client: client.update_item(
            TableName=table, Key=key, UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "state"}, ExpressionAttributeValues={":s": {"S": "x"}},
        ),
        "BatchGetItem": lambda client: client.batch_get_item(RequestItems={table: {"Keys": [key]}}),
        "TransactWriteItems": lambda client: client.transact_write_items(
            TransactItems=[{"Put": {"TableName": table, "Item": key}}]
        ),
    }  # fmt: skip


@pytest.mark.parametrize("operation", ["GetItem", "PutItem", "UpdateItem", "BatchGetItem", "TransactWriteItems"])
def test_a_ledger_call_makes_botocores_attempts_then_is_unavailable(
    proxy: Any, botocore_waits: Sleeps, table: str, operation: str
) -> None:
    proxy.inject_error("dynamodb", operation, code="ProvisionedThroughputExceededException", count=ALWAYS)
    client = LedgerHook(table).get_conn()
    with pytest.raises(ServiceUnavailable, match="DynamoDB"):
        _dynamodb_calls(table)[operation](client)
    requests, _ = aws_call()
    assert proxy.count("dynamodb", operation) == requests
    assert len(botocore_waits.waits) == requests - 1
    assert all(wait <= botocore_wait(n) for n, wait in enumerate(botocore_waits.waits, start=1))


def test_a_ledger_read_through_the_hook_is_unavailable_after_botocores_attempts(
    proxy: Any, botocore_waits: Sleeps, table: str
) -> None:
    proxy.inject_error("dynamodb", "GetItem", code="InternalServerError", status=500, count=ALWAYS)
    with pytest.raises(ServiceUnavailable, match=repr(table)):
        LedgerHook(table).get("BS-1")
    assert proxy.count("dynamodb", "GetItem") == aws_requests()


def test_the_scrub_makes_botocores_attempts_per_call(proxy: Any, botocore_waits: Sleeps, aws_client: Any) -> None:
    name = unique("scc-events")
    aws_client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    proxy.inject_error("dynamodb", "GetItem", code="ThrottlingException", count=ALWAYS)
    with pytest.raises(ServiceUnavailable, match=repr(name)):
        SccEventsTableHook(name).scrub_event("evt-1")
    assert proxy.count("dynamodb", "GetItem") == aws_requests()


@pytest.mark.parametrize("operation", ["PutObject", "GetObject", "HeadObject", "ListObjectsV2"])
def test_an_s3_call_makes_botocores_attempts_then_is_unavailable(
    proxy: Any, botocore_waits: Sleeps, bucket: str, operation: str
) -> None:
    from charter_pipeline.hooks.exports import ExportFile, ExportsHook

    proxy.inject_error("s3", operation, code="SlowDown", status=503, count=ALWAYS)
    portal = GuestPortalHook(bucket)
    calls: dict[str, Callable[[], Any]] = {
        "PutObject": lambda: portal.upload_page(SESSION_ID, "<p>hi</p>"),
        "GetObject": lambda: ExportsHook().read(ExportFile(f"s3://{bucket}/incoming/a.csv", "a.csv", "", None, 1)),  # type: ignore[arg-type]
        "HeadObject": lambda: portal.uploaded_page_hash(SESSION_ID),
        "ListObjectsV2": lambda: ExportsHook().list_exports(f"s3://{bucket}/incoming/"),
    }
    with pytest.raises(ServiceUnavailable, match=f"S3 bucket {bucket!r}"):
        calls[operation]()
    assert proxy.count("s3", operation) == aws_requests()


@pytest.fixture
def distribution(aws_client: Callable[[str], Any]) -> str:
    answer = aws_client("cloudfront").create_distribution(
        DistributionConfig={
            "CallerReference": unique("dist"),
            "Comment": "guest pages",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {"Id": "o", "DomainName": "b.s3.amazonaws.com", "S3OriginConfig": {"OriginAccessIdentity": ""}}
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "o",
                "ViewerProtocolPolicy": "redirect-to-https",
                "MinTTL": 0,
                "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                "TrustedSigners": {"Enabled": False, "Quantity": 0},
            },
        }
    )
    return str(answer["Distribution"]["Id"])


def _portal(distribution: str, sleeps: Sleeps) -> GuestPortalHook:
    return GuestPortalHook("unused", distribution, invalidation_policy=INVALIDATION_POLICY.with_changes(sleep=sleeps))


def test_throttled_invalidations_are_botocores_alone(
    proxy: Any, botocore_waits: Sleeps, distribution: str, sleeps: Sleeps
) -> None:
    proxy.inject_error("cloudfront", "CreateInvalidation", code="Throttling", count=ALWAYS)
    with pytest.raises(ServiceUnavailable, match="Throttling"):
        _portal(distribution, sleeps).invalidate_page(SESSION_ID, CONTENT_HASH)
    assert proxy.count("cloudfront", "CreateInvalidation") == aws_requests()
    assert sleeps.waits == []


def test_too_many_invalidations_in_progress_is_the_hooks_alone(
    proxy: Any, botocore_waits: Sleeps, distribution: str, sleeps: Sleeps
) -> None:
    proxy.too_many_invalidations(count=ALWAYS)
    with pytest.raises(ServiceUnavailable, match="TooManyInvalidationsInProgress"):
        _portal(distribution, sleeps).invalidate_page(SESSION_ID, CONTENT_HASH)
    assert proxy.count("cloudfront", "CreateInvalidation") == INVALIDATION_POLICY.attempts
    assert botocore_waits.waits == []
    assert len(sleeps.waits) == INVALIDATION_POLICY.attempts - 1


def test_an_invalidation_in_the_worst_case_makes_the_documented_requests(
    proxy: Any, botocore_waits: Sleeps, distribution: str, sleeps: Sleeps
) -> None:
    """Each of the hook's tries is throttled as long as botocore retries, then refused as too many in progress."""
    for _ in range(INVALIDATION_POLICY.attempts):
        proxy.inject_error("cloudfront", "CreateInvalidation", code="Throttling", count=AWS_RETRIES)
        proxy.too_many_invalidations(count=1)
    with pytest.raises(ServiceUnavailable, match="TooManyInvalidationsInProgress"):
        _portal(distribution, sleeps).invalidate_page(SESSION_ID, CONTENT_HASH)
    assert proxy.count("cloudfront", "CreateInvalidation") == invalidation()[0]


def test_the_connections_config_kwargs_decide_botocores_share(
    proxy: Any, botocore_waits: Sleeps, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the amazon provider expects: ``config_kwargs`` in the connection's extra; the pipeline's timeouts stay."""
    conn = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    conn["extra"]["config_kwargs"] = {"retries": {"mode": "standard", "max_attempts": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    proxy.inject_error("dynamodb", "GetItem", code="ThrottlingException", count=ALWAYS)
    hook = LedgerHook(table)
    with pytest.raises(ServiceUnavailable):
        hook.get("BS-1")
    assert proxy.count("dynamodb", "GetItem") == 2
    assert (hook.config.connect_timeout, hook.config.read_timeout) == HTTP_POLICY.timeout


def test_the_watchers_sqs_receives_take_botocores_share_from_the_connection(
    proxy: Any, botocore_waits: Sleeps, aws_client: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provider's SQS trigger builds its SqsHook from the connection alone: its config_kwargs are the share."""
    from airflow.providers.amazon.aws.hooks.sqs import SqsHook

    queue_url = aws_client("sqs").create_queue(QueueName=unique("exports"))["QueueUrl"]
    conn = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    conn["extra"]["config_kwargs"] = {"retries": {"mode": "standard", "max_attempts": AWS_RETRIES}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    proxy.inject_error("sqs", "ReceiveMessage", code="ServiceUnavailable", status=503, count=ALWAYS)
    with pytest.raises(Exception, match="ServiceUnavailable"):
        SqsHook(aws_conn_id="aws_default").get_conn().receive_message(QueueUrl=queue_url)
    assert proxy.count("sqs", "ReceiveMessage") == aws_requests()
