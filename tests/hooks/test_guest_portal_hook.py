"""GuestPortalHook: page upload to S3 and CloudFront invalidation, against moto in server mode."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from botocore.stub import Stubber

from charter_pipeline.hooks.guest_portal import (
    CACHE_CONTROL,
    CACHE_CONTROL_WITHOUT_INVALIDATION,
    GuestPortalHook,
    page_key,
)
from charter_pipeline.hooks.policy import RetryPolicy, ServiceRejected, ServiceUnavailable
from tests.hooks.stand_ins import Sleeps, unique

SESSION_ID = "7K3M9QX2HB4TR"
CONTENT_HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
PAGE = (
    '<!doctype html><html><head><meta name="robots" content="noindex, nofollow"></head><body>Hi Jane ⛵</body></html>'
)


@pytest.fixture
def bucket(aws_client: Callable[[str], Any]) -> str:
    name = unique("guest-pages")
    aws_client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def distribution(aws_client: Callable[[str], Any], bucket: str) -> str:
    answer = aws_client("cloudfront").create_distribution(
        DistributionConfig={
            "CallerReference": unique("dist"),
            "Comment": "guest pages",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "guest-bucket",
                        "DomainName": f"{bucket}.s3.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "guest-bucket",
                "ViewerProtocolPolicy": "redirect-to-https",
                "MinTTL": 0,
                "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                "TrustedSigners": {"Enabled": False, "Quantity": 0},
            },
        }
    )
    return str(answer["Distribution"]["Id"])


def patient_policy(sleeps: Sleeps, attempts: int = 5) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, first_delay=2.0, max_delay=60.0, sleep=sleeps, jitter=lambda: 1.0)


def test_page_key_names_the_session() -> None:
    assert page_key(SESSION_ID) == "jada-guest-7K3M9QX2HB4TR.html"
    assert GuestPortalHook("bucket").page_key(SESSION_ID) == "jada-guest-7K3M9QX2HB4TR.html"


@pytest.mark.parametrize("session_id", ["", "abc", "7k3m9qx2hb4tr", "../../etc/passwd", "7K3M9QX2HB4TR.html"])
def test_page_key_refuses_what_is_not_a_session_id(session_id: str) -> None:
    with pytest.raises(ValueError, match="session id"):
        page_key(session_id)


def test_upload_sets_content_type_and_cache_control(
    aws_client: Callable[[str], Any], aws_conn: str, bucket: str, distribution: str
) -> None:
    key = GuestPortalHook(bucket, distribution).upload_page(SESSION_ID, PAGE)

    assert key == "jada-guest-7K3M9QX2HB4TR.html"
    stored = aws_client("s3").get_object(Bucket=bucket, Key=key)
    assert stored["ContentType"] == "text/html; charset=utf-8"
    assert stored["CacheControl"] == CACHE_CONTROL == "public, max-age=60, s-maxage=31536000"
    assert stored["Body"].read().decode("utf-8") == PAGE


def test_upload_replaces_the_page_at_the_same_address(
    aws_client: Callable[[str], Any], aws_conn: str, bucket: str
) -> None:
    portal = GuestPortalHook(bucket, "")
    portal.upload_page(SESSION_ID, PAGE)
    portal.upload_page(SESSION_ID, "<p>This charter was cancelled.</p>")
    listed = aws_client("s3").list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["jada-guest-7K3M9QX2HB4TR.html"]
    stored = aws_client("s3").get_object(Bucket=bucket, Key=listed[0]["Key"])
    assert stored["Body"].read() == b"<p>This charter was cancelled.</p>"
    # Nothing will invalidate a shared cache, so it may keep the page only briefly.
    assert stored["CacheControl"] == CACHE_CONTROL_WITHOUT_INVALIDATION


def test_the_uploaded_page_carries_its_content_hash(aws_conn: str, bucket: str, distribution: str) -> None:
    portal = GuestPortalHook(bucket, distribution)
    assert portal.uploaded_page_hash(SESSION_ID) is None  # nothing there yet
    portal.upload_page(SESSION_ID, PAGE, "abc123")
    assert portal.uploaded_page_hash(SESSION_ID) == "abc123"
    portal.upload_page(SESSION_ID, PAGE)  # an upload without a hash leaves none behind
    assert portal.uploaded_page_hash(SESSION_ID) is None


def test_the_page_content_hash_is_what_the_bucket_holds_now(aws_conn: str, bucket: str, distribution: str) -> None:
    portal = GuestPortalHook(bucket, distribution)
    assert portal.page_content_hash(SESSION_ID) is None  # nothing there yet
    portal.upload_page(SESSION_ID, PAGE, "stale-metadata")
    # The bytes, not the metadata: a page replaced by hand keeps whatever metadata it was given.
    assert portal.page_content_hash(SESSION_ID) == hashlib.sha256(PAGE.encode()).hexdigest()


def test_upload_to_a_missing_bucket_is_rejected(aws_conn: str) -> None:
    with pytest.raises(ServiceRejected, match=r"NoSuchBucket|does not exist"):
        GuestPortalHook(unique("no-bucket")).upload_page(SESSION_ID, PAGE)


def test_invalidation_names_both_paths_and_a_content_derived_reference(
    aws_client: Callable[[str], Any], aws_conn: str, distribution: str
) -> None:
    invalidation_id = GuestPortalHook("unused", distribution).invalidate_page(SESSION_ID, CONTENT_HASH)

    assert invalidation_id
    stored = aws_client("cloudfront").get_invalidation(DistributionId=distribution, Id=invalidation_id)
    batch = stored["Invalidation"]["InvalidationBatch"]
    assert batch["Paths"]["Items"] == ["/g/7K3M9QX2HB4TR", "/jada-guest-7K3M9QX2HB4TR.html"]
    assert batch["Paths"]["Quantity"] == 2
    assert batch["CallerReference"] == f"{SESSION_ID}-{CONTENT_HASH[:24]}"


def test_a_repair_invalidates_again_under_its_own_reference(
    aws_client: Callable[[str], Any], aws_conn: str, distribution: str
) -> None:
    portal = GuestPortalHook("unused", distribution)
    first = portal.invalidate_page(SESSION_ID, CONTENT_HASH)
    repair = portal.invalidate_page(SESSION_ID, CONTENT_HASH, repair="20261204T080000Z")
    assert repair
    assert repair != first
    stored = aws_client("cloudfront").get_invalidation(DistributionId=distribution, Id=repair)
    reference = stored["Invalidation"]["InvalidationBatch"]["CallerReference"]
    assert reference == f"{SESSION_ID}-{CONTENT_HASH[:24]}-repair-20261204T080000Z"


def test_empty_distribution_skips_invalidation_and_says_so(logged: Callable[[], str]) -> None:
    portal = GuestPortalHook("bucket", "  ")
    assert portal.invalidate_page(SESSION_ID, CONTENT_HASH) is None
    assert "skipping the invalidation" in logged()
    assert portal._cloudfront is None


def _stubbed_portal(distribution: str, sleeps: Sleeps, attempts: int) -> tuple[GuestPortalHook, Stubber]:
    portal = GuestPortalHook("unused", distribution, invalidation_policy=patient_policy(sleeps, attempts))
    stubber = Stubber(portal._cloudfront_client())
    return portal, stubber


def _expected(distribution: str) -> dict[str, Any]:
    return {
        "DistributionId": distribution,
        "InvalidationBatch": {
            "Paths": {"Quantity": 2, "Items": ["/g/7K3M9QX2HB4TR", "/jada-guest-7K3M9QX2HB4TR.html"]},
            "CallerReference": f"{SESSION_ID}-{CONTENT_HASH[:24]}",
        },
    }


def test_too_many_invalidations_in_progress_is_retried_patiently(aws_conn: str, distribution: str) -> None:
    sleeps = Sleeps()
    portal, stubber = _stubbed_portal(distribution, sleeps, attempts=5)
    for _ in range(2):
        stubber.add_client_error(
            "create_invalidation",
            service_error_code="TooManyInvalidationsInProgress",
            http_status_code=400,
            expected_params=_expected(distribution),
        )
    stubber.add_response(
        "create_invalidation",
        {
            "Location": "https://cloudfront.amazonaws.com/invalidation/I2J0I21PCUYOIK",
            "Invalidation": {
                "Id": "I2J0I21PCUYOIK",
                "Status": "InProgress",
                "CreateTime": "2026-11-24T10:00:00Z",
                "InvalidationBatch": _expected(distribution)["InvalidationBatch"],
            },
        },
        expected_params=_expected(distribution),
    )
    with stubber:
        assert portal.invalidate_page(SESSION_ID, CONTENT_HASH) == "I2J0I21PCUYOIK"
    stubber.assert_no_pending_responses()
    assert sleeps.waits == [2.0, 4.0]


def test_invalidations_that_stay_refused_end_unavailable(aws_conn: str, distribution: str) -> None:
    sleeps = Sleeps()
    portal, stubber = _stubbed_portal(distribution, sleeps, attempts=3)
    for _ in range(3):
        stubber.add_client_error(
            "create_invalidation", service_error_code="TooManyInvalidationsInProgress", http_status_code=400
        )
    with stubber, pytest.raises(ServiceUnavailable, match="TooManyInvalidationsInProgress"):
        portal.invalidate_page(SESSION_ID, CONTENT_HASH)
    assert len(sleeps.waits) == 2


def test_unknown_distribution_is_rejected_without_retry(aws_conn: str) -> None:
    sleeps = Sleeps()
    portal = GuestPortalHook("unused", "E000000NOSUCH", invalidation_policy=patient_policy(sleeps))
    with pytest.raises(ServiceRejected, match="E000000NOSUCH"):
        portal.invalidate_page(SESSION_ID, CONTENT_HASH)
    assert sleeps.waits == []
