"""The AWS proxy in front of moto: byte-exact passthrough, call counts per operation, AWS-shaped faults."""

from __future__ import annotations

import base64
import errno
import hashlib
import io
import os
import uuid
import zlib
from collections import Counter
from collections.abc import Iterator
from email.message import Message
from typing import Any

import boto3
import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from sandbox.aws import AWS_FAULT_KINDS, AwsFaultKind, classify
from sandbox.faults import ServiceRequest
from sandbox.stack import SandboxStack

_CLIENTS: dict[tuple[str, str, int], Any] = {}


def proxied(stack: SandboxStack, service: str, attempts: int = 1) -> Any:
    """A boto3 client through the proxy, as the pipeline's aws_default makes them (cached: each costs ~0.2 s)."""
    key = (stack.aws_url, service, attempts)
    if key not in _CLIENTS:
        _CLIENTS[key] = boto3.session.Session().client(
            service,  # type: ignore[call-overload]
            endpoint_url=stack.aws_url,
            region_name="us-east-1",
            aws_access_key_id=stack.aws_access_key_id,
            aws_secret_access_key=stack.aws_secret_access_key,
            config=Config(
                connect_timeout=2, read_timeout=5, retries={"total_max_attempts": attempts, "mode": "standard"}
            ),
        )
    return _CLIENTS[key]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def table(stack: SandboxStack) -> Iterator[str]:
    name = unique("ledger")
    stack.boto3_client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "booking_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "booking_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield name
    stack.boto3_client("dynamodb").delete_table(TableName=name)


@pytest.fixture
def bucket(stack: SandboxStack) -> str:
    name = unique("guest-pages")
    stack.boto3_client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def distribution(stack: SandboxStack, bucket: str) -> str:
    answer = stack.boto3_client("cloudfront").create_distribution(
        DistributionConfig={
            "CallerReference": unique("dist"),
            "Comment": "guest pages",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "s3",
                        "DomainName": f"{bucket}.s3.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "s3",
                "ViewerProtocolPolicy": "redirect-to-https",
                "TrustedSigners": {"Enabled": False, "Quantity": 0},
                "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                "MinTTL": 0,
            },
        }
    )
    distribution_id: str = answer["Distribution"]["Id"]
    return distribution_id


def invalidate(cloudfront: Any, distribution_id: str, reference: str) -> dict[str, Any]:
    batch = {
        "Paths": {"Quantity": 2, "Items": ["/g/ABCDEFGHJKMNP", "/jada-guest-ABCDEFGHJKMNP.html"]},
        "CallerReference": reference,
    }
    answer: dict[str, Any] = cloudfront.create_invalidation(DistributionId=distribution_id, InvalidationBatch=batch)
    return answer


def test_calls_are_counted_per_service_and_operation(
    stack: SandboxStack, table: str, bucket: str, distribution: str
) -> None:
    dynamodb, s3, cloudfront = proxied(stack, "dynamodb"), proxied(stack, "s3"), proxied(stack, "cloudfront")

    dynamodb.put_item(TableName=table, Item={"booking_id": {"S": "BS-1"}})
    dynamodb.get_item(TableName=table, Key={"booking_id": {"S": "BS-1"}})
    dynamodb.get_item(TableName=table, Key={"booking_id": {"S": "BS-2"}})
    s3.put_object(Bucket=bucket, Key="jada-guest-X.html", Body=b"<p>hi</p>")
    s3.list_objects_v2(Bucket=bucket, Prefix="jada-")
    s3.head_object(Bucket=bucket, Key="jada-guest-X.html")
    invalidate(cloudfront, distribution, "ref-1")
    cloudfront.get_distribution(Id=distribution)

    assert stack.aws.call_counts() == {
        "cloudfront": {"CreateInvalidation": 1, "GetDistribution": 1},
        "dynamodb": {"GetItem": 2, "PutItem": 1},
        "s3": {"HeadObject": 1, "ListObjectsV2": 1, "PutObject": 1},
    }
    assert stack.aws.count("dynamodb") == 3
    assert stack.aws.count("dynamodb", "GetItem") == 2
    state = requests.get(stack.aws.root_url + "/_sandbox/state", timeout=5).json()
    assert state["counts"]["dynamodb"]["GetItem"] == 2
    assert stack.aws_secret_access_key not in str(state)
    assert stack.aws_access_key_id not in str(state)


def test_too_many_invalidations_reaches_boto3_as_that_error_code(stack: SandboxStack, distribution: str) -> None:
    cloudfront = proxied(stack, "cloudfront", attempts=3)
    stack.aws.too_many_invalidations(count=1)

    with pytest.raises(ClientError) as refused:
        invalidate(cloudfront, distribution, "ref-1")
    accepted = invalidate(cloudfront, distribution, "ref-1")

    error = refused.value.response
    assert error["Error"]["Code"] == "TooManyInvalidationsInProgress"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert accepted["Invalidation"]["Status"] == "COMPLETED"  # moto's spelling (AIRFLOW-NOTES.md)
    assert stack.aws.count("cloudfront", "CreateInvalidation") == 2  # botocore does not retry this code


def test_the_admin_api_takes_an_aws_error_code_alone(stack: SandboxStack, distribution: str) -> None:
    armed = requests.post(
        stack.aws.root_url + "/_sandbox/faults",
        json={
            "service": "cloudfront",
            "operation": "CreateInvalidation",
            "code": "TooManyInvalidationsInProgress",
            "count": 2,
        },
        timeout=5,
    )
    cloudfront = proxied(stack, "cloudfront")

    codes = []
    for _ in range(2):
        with pytest.raises(ClientError) as refused:
            invalidate(cloudfront, distribution, "ref-2")
        codes.append(refused.value.response["Error"]["Code"])

    assert armed.status_code == 201
    assert armed.json()["fault"]["status"] == 400
    assert codes == ["TooManyInvalidationsInProgress"] * 2
    assert invalidate(cloudfront, distribution, "ref-2")["Invalidation"]["Id"]


@pytest.mark.parametrize(("status", "code"), [(500, "InternalServerError"), (503, "ServiceUnavailable")])
def test_a_5xx_fault_is_seen_by_boto3_and_retried_through(
    stack: SandboxStack, table: str, status: int, code: str
) -> None:
    stack.aws.inject_error("dynamodb", "GetItem", status=status, count=2)
    key = {"booking_id": {"S": "BS-1"}}

    with pytest.raises(ClientError) as failed:
        proxied(stack, "dynamodb").get_item(TableName=table, Key=key)
    retried = proxied(stack, "dynamodb", attempts=3).get_item(TableName=table, Key=key)

    assert failed.value.response["Error"]["Code"] == code
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert retried["ResponseMetadata"]["RetryAttempts"] == 1
    assert [c["status"] for c in stack.aws.calls("dynamodb", "GetItem")] == [status, status, 200]


def test_an_s3_fault_answers_s3_shaped_xml(stack: SandboxStack, bucket: str) -> None:
    stack.aws.inject_error("s3", "PutObject", status=500)

    with pytest.raises(ClientError) as failed:
        proxied(stack, "s3").put_object(Bucket=bucket, Key="k", Body=b"x")

    assert failed.value.response["Error"]["Code"] == "InternalError"
    assert "Contents" not in stack.boto3_client("s3").list_objects_v2(Bucket=bucket)


def test_a_dropped_connection_does_nothing_and_a_lost_answer_does_the_work(stack: SandboxStack, table: str) -> None:
    dynamodb = proxied(stack, "dynamodb")
    stack.aws.inject(service="dynamodb", operation="PutItem", mode="drop")
    stack.aws.inject(service="dynamodb", operation="PutItem", mode="lose_answer")

    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        dynamodb.put_item(TableName=table, Item={"booking_id": {"S": "dropped"}})
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        dynamodb.put_item(TableName=table, Item={"booking_id": {"S": "lost"}})

    direct = stack.boto3_client("dynamodb")
    assert "Item" not in direct.get_item(TableName=table, Key={"booking_id": {"S": "dropped"}})
    assert "Item" in direct.get_item(TableName=table, Key={"booking_id": {"S": "lost"}})


def test_s3_bodies_and_headers_pass_byte_exact(stack: SandboxStack, bucket: str) -> None:
    s3 = proxied(stack, "s3")
    body = bytes(range(256)) * 64
    digest = base64.b64encode(hashlib.md5(body).digest()).decode()

    s3.put_object(
        Bucket=bucket,
        Key="jada-guest-ABC.html",
        Body=body,
        ContentMD5=digest,
        ContentType="text/html; charset=utf-8",
        CacheControl="public, max-age=60",
        Metadata={"session_id": "ABCDEFGHJKMNP"},
    )
    got = s3.get_object(Bucket=bucket, Key="jada-guest-ABC.html")

    assert got["Body"].read() == body
    assert got["ContentType"] == "text/html; charset=utf-8"
    assert got["CacheControl"] == "public, max-age=60"
    assert got["Metadata"] == {"session_id": "ABCDEFGHJKMNP"}
    assert s3.head_object(Bucket=bucket, Key="jada-guest-ABC.html")["ContentLength"] == len(body)


def test_a_streamed_multipart_upload_passes_intact(stack: SandboxStack, bucket: str) -> None:
    data = os.urandom(6 * 1024 * 1024 + 17)
    stream = io.BufferedReader(io.BytesIO(data))
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)

    proxied(stack, "s3").upload_fileobj(stream, bucket, "export.csv", Config=config)

    stored = stack.boto3_client("s3").get_object(Bucket=bucket, Key="export.csv")["Body"].read()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    assert stack.aws.call_counts()["s3"] == {"CreateMultipartUpload": 1, "UploadPart": 2, "CompleteMultipartUpload": 1}


def test_a_transfer_chunked_aws_chunked_upload_reaches_moto_intact(stack: SandboxStack, bucket: str) -> None:
    data = bytes(range(256)) * 100
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    framed = (
        b"".join(
            f"{len(data[i : i + 8192]):x}\r\n".encode() + data[i : i + 8192] + b"\r\n"
            for i in range(0, len(data), 8192)
        )
        + f"0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n".encode()
    )

    def pieces() -> Iterator[bytes]:  # a generator body makes requests send Transfer-Encoding: chunked
        for i in range(0, len(framed), 5000):
            yield framed[i : i + 5000]

    answer = requests.put(
        f"{stack.aws_url}/{bucket}/streamed.bin",
        data=pieces(),
        headers={
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(len(data)),
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "x-amz-trailer": "x-amz-checksum-crc32",
        },
        timeout=5,
    )

    assert answer.request.headers["Transfer-Encoding"] == "chunked"
    assert answer.status_code == 200
    assert stack.boto3_client("s3").get_object(Bucket=bucket, Key="streamed.bin")["Body"].read() == data


def test_presigned_credentials_stay_out_of_the_log(stack: SandboxStack, bucket: str) -> None:
    stack.boto3_client("s3").put_object(Bucket=bucket, Key="k.txt", Body=b"hello")
    url = proxied(stack, "s3").generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k.txt"})

    assert requests.get(url, timeout=5).content == b"hello"

    (call,) = stack.aws.calls()
    assert (call["service"], call["operation"]) == ("s3", "GetObject")
    assert stack.aws_access_key_id not in str(stack.aws.state())


def _request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> ServiceRequest:
    message = Message()
    for name, value in headers.items():
        message[name] = value
    raw_query = path.partition("?")[2]
    query: dict[str, str | list[str]] = dict(p.partition("=")[::2] for p in raw_query.split("&") if p)
    return ServiceRequest(method, path, path.partition("?")[0], query, message, body)


SIGV4 = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261204/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=x"


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "expected"),
    [
        ("POST", "/", {"X-Amz-Target": "DynamoDB_20120810.UpdateItem"}, b"{}", ("dynamodb", "UpdateItem")),
        (
            "GET",
            "/queenofsandiego.com/jada-guest-X.html",
            {"Authorization": SIGV4.format("s3")},
            b"",
            ("s3", "GetObject"),
        ),
        (
            "PUT",
            "/bkt/k",
            {"Authorization": SIGV4.format("s3"), "x-amz-copy-source": "/bkt/j"},
            b"",
            ("s3", "CopyObject"),
        ),
        (
            "GET",
            "/bkt?list-type=2&prefix=incoming/",
            {"Authorization": SIGV4.format("s3")},
            b"",
            ("s3", "ListObjectsV2"),
        ),
        ("GET", "/bkt?versions", {"Authorization": SIGV4.format("s3")}, b"", ("s3", "ListObjectVersions")),
        ("GET", "/", {"Authorization": SIGV4.format("s3")}, b"", ("s3", "ListBuckets")),
        (
            "POST",
            "/2020-05-31/distribution/E123/invalidation",
            {"Authorization": SIGV4.format("cloudfront")},
            b"",
            ("cloudfront", "CreateInvalidation"),
        ),
        ("GET", "/2020-05-31/distribution/E123/invalidation/I9", {}, b"", ("cloudfront", "GetInvalidation")),
        (
            "POST",
            "/",
            {"Authorization": SIGV4.format("sts"), "Content-Type": "application/x-www-form-urlencoded"},
            b"Action=GetCallerIdentity&Version=2011-06-15",
            ("sts", "GetCallerIdentity"),
        ),
    ],
)
def test_classify_names_service_and_operation(
    method: str, path: str, headers: dict[str, str], body: bytes, expected: tuple[str, str]
) -> None:
    assert classify(_request(method, path, headers, body)) == expected


# --- every kind of AWS fault, seen exactly once through boto3 with retries off -----------------------------------


def kind(service: str, name: str) -> AwsFaultKind:
    return next(k for k in AWS_FAULT_KINDS[service] if k.name == name)


def write(stack: SandboxStack, service: str, table: str, bucket: str, distribution: str, key: str) -> Any:
    """One write of ``service`` through the proxy, with botocore's retries off: each fault is seen exactly once."""
    if service == "dynamodb":
        return proxied(stack, "dynamodb").put_item(TableName=table, Item={"booking_id": {"S": key}})
    if service == "s3":
        return proxied(stack, "s3").put_object(Bucket=bucket, Key=key, Body=b"<p>page</p>")
    return invalidate(proxied(stack, "cloudfront"), distribution, key)


def landed(stack: SandboxStack, service: str, table: str, bucket: str, distribution: str, key: str) -> bool:
    """Whether the write of ``key`` reached moto (read straight from moto, not through the proxy)."""
    if service == "dynamodb":
        return "Item" in stack.boto3_client("dynamodb").get_item(TableName=table, Key={"booking_id": {"S": key}})
    if service == "s3":
        listed = stack.boto3_client("s3").list_objects_v2(Bucket=bucket, Prefix=key)
        return any(o["Key"] == key for o in listed.get("Contents", []))
    cloudfront = stack.boto3_client("cloudfront")
    items = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"].get("Items", [])
    references = {
        cloudfront.get_invalidation(DistributionId=distribution, Id=i["Id"])["Invalidation"]["InvalidationBatch"][
            "CallerReference"
        ]
        for i in items
    }
    return key in references


WRITES = {"dynamodb": "PutItem", "s3": "PutObject", "cloudfront": "CreateInvalidation"}
ERRORS = [
    ("s3", "500", 500, "InternalError"),
    ("s3", "503 SlowDown", 503, "SlowDown"),
    ("dynamodb", "500", 500, "InternalServerError"),
    ("dynamodb", "throughput exceeded", 400, "ProvisionedThroughputExceededException"),
    ("dynamodb", "throttled", 400, "ThrottlingException"),
    ("cloudfront", "500", 500, "InternalError"),
    ("cloudfront", "throttled", 400, "Throttling"),
    ("cloudfront", "too many invalidations", 400, "TooManyInvalidationsInProgress"),
]


@pytest.mark.parametrize(("service", "name", "status", "code"), ERRORS, ids=[f"{e[0]}-{e[3]}" for e in ERRORS])
def test_each_aws_error_reaches_boto3_as_that_service_answers_it(
    stack: SandboxStack, table: str, bucket: str, distribution: str, service: str, name: str, status: int, code: str
) -> None:
    stack.aws.inject(kind(service, name).fault(service, WRITES[service], count=1))
    key = unique("faulted")

    with pytest.raises(ClientError) as failed:
        write(stack, service, table, bucket, distribution, key)
    write(stack, service, table, bucket, distribution, unique("after"))

    error = failed.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
    assert [c.get("fault") for c in stack.aws.calls(service, WRITES[service])] == ["status", None]
    assert not landed(stack, service, table, bucket, distribution, key), "an error answer does no work"


def test_error_bodies_are_shaped_as_each_service_sends_them(stack: SandboxStack, bucket: str) -> None:
    """botocore parses S3's errors from XML and DynamoDB's from JSON ``__type``: the raw bodies, as AWS sends them."""
    stack.aws.inject(kind("s3", "503 SlowDown").fault("s3", "GetObject", count=1))
    stack.aws.inject(kind("dynamodb", "throttled").fault("dynamodb", "*", count=1))

    s3 = requests.get(f"{stack.aws_url}/{bucket}/missing.html", timeout=5)
    dynamodb = requests.post(
        stack.aws_url, data=b"{}", headers={"X-Amz-Target": "DynamoDB_20120810.GetItem"}, timeout=5
    )

    assert s3.status_code == 503
    assert s3.headers["Content-Type"] == "text/xml"
    assert "<Error><Code>SlowDown</Code>" in s3.text
    assert dynamodb.status_code == 400
    assert dynamodb.headers["Content-Type"] == "application/x-amz-json-1.0"  # once: DynamoDB sends one
    assert dynamodb.json()["__type"] == "com.amazonaws.dynamodb.v20120810#ThrottlingException"


@pytest.mark.parametrize("service", sorted(WRITES))
def test_a_reset_connection_does_no_work(
    stack: SandboxStack, table: str, bucket: str, distribution: str, service: str
) -> None:
    stack.aws.inject(kind(service, "reset").fault(service, WRITES[service], count=1))
    key = unique("reset")

    with pytest.raises(ConnectionClosedError) as failed:
        write(stack, service, table, bucket, distribution, key)

    cause = failed.value.kwargs["error"]  # urllib3's ProtocolError, holding what the socket said
    # ECONNRESET itself: a clean close (a "drop") is http.client's RemoteDisconnected, a ConnectionResetError too.
    assert any(getattr(arg, "errno", None) == errno.ECONNRESET for arg in cause.args), f"not a reset: {cause!r}"
    assert [c.get("fault") for c in stack.aws.calls(service, WRITES[service])] == ["reset"]
    assert not landed(stack, service, table, bucket, distribution, key)


@pytest.mark.parametrize("service", sorted(WRITES))
def test_a_lost_answer_lands_the_write_and_closes_without_an_answer(
    stack: SandboxStack, table: str, bucket: str, distribution: str, service: str
) -> None:
    stack.aws.inject(kind(service, "lost").fault(service, WRITES[service], count=1))
    key = unique("lost")

    with pytest.raises(ConnectionClosedError):
        write(stack, service, table, bucket, distribution, key)

    (call,) = stack.aws.calls(service, WRITES[service])
    assert (call["fault"], call["status"] // 100) == ("lose_answer", 2)  # moto answered; the client never heard
    assert landed(stack, service, table, bucket, distribution, key)


def test_faults_are_per_operation(stack: SandboxStack, table: str) -> None:
    dynamodb = proxied(stack, "dynamodb")
    stack.aws.inject(kind("dynamodb", "throttled").fault("dynamodb", "PutItem", count=None))

    reads = [dynamodb.get_item(TableName=table, Key={"booking_id": {"S": f"BS-{n}"}}) for n in range(3)]
    with pytest.raises(ClientError):
        dynamodb.put_item(TableName=table, Item={"booking_id": {"S": "BS-1"}})

    assert all("Item" not in read for read in reads)
    assert [c.get("fault") for c in stack.aws.calls("dynamodb")] == [None, None, None, "status"]
    assert stack.aws.faults.pending(), "a fault with no count stays armed"


def _chaos_outcomes(stack: SandboxStack, table: str, calls: int) -> list[str]:
    dynamodb = proxied(stack, "dynamodb")
    outcomes = []
    for n in range(calls):
        try:
            dynamodb.get_item(TableName=table, Key={"booking_id": {"S": f"BS-{n}"}})
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])
        except ConnectionClosedError:
            outcomes.append("closed")
        else:
            outcomes.append("ok")
    return outcomes


def test_chaos_fails_a_seeded_reproducible_share_of_calls_with_every_kind(stack: SandboxStack, table: str) -> None:
    stack.aws.chaos(0.3, seed=7, service="dynamodb")
    first = _chaos_outcomes(stack, table, 200)
    stack.aws.faults.reseed(7)
    again = _chaos_outcomes(stack, table, 200)
    stack.aws.faults.reseed(8)
    other = _chaos_outcomes(stack, table, 200)

    faulted = [o for o in first if o != "ok"]
    assert first == again, "the same seed, the same faults on the same calls"
    assert first != other
    assert 0.2 <= len(faulted) / len(first) <= 0.4
    assert {"InternalServerError", "ProvisionedThroughputExceededException", "ThrottlingException", "closed"} <= set(
        faulted
    )
    modes = Counter(c.get("fault") for c in stack.aws.calls("dynamodb", "GetItem")[:200])
    assert {"reset", "lose_answer", "status"} <= set(modes)


def test_chaos_through_the_admin_api(stack: SandboxStack, bucket: str) -> None:
    seeded = requests.post(stack.aws.root_url + "/_sandbox/faults/seed", json={"seed": 3}, timeout=5)
    armed = requests.post(
        stack.aws.root_url + "/_sandbox/faults",
        json={"service": "s3", "operation": "PutObject", "code": "SlowDown", "rate": 0.5, "count": None},
        timeout=5,
    )
    s3 = proxied(stack, "s3")
    codes = []
    for n in range(40):
        try:
            s3.put_object(Bucket=bucket, Key=f"k{n}", Body=b"x")
            codes.append("ok")
        except ClientError as exc:
            codes.append(exc.response["Error"]["Code"])

    assert (seeded.status_code, armed.status_code) == (200, 201)
    assert armed.json()["fault"]["status"] == 503
    assert set(codes) == {"ok", "SlowDown"}
    assert requests.get(stack.aws.root_url + "/_sandbox/faults", timeout=5).json()["faults"][0]["rate"] == 0.5
