"""GuestPortalHook: guest pages on S3 behind CloudFront (CONTRACT.md section 7)."""

from __future__ import annotations

import re
from typing import Any

from airflow.sdk import BaseHook

from charter_pipeline.hooks.policy import INVALIDATION_POLICY, RetryPolicy, ServiceRejected, aws_error_code

CONTENT_TYPE = "text/html; charset=utf-8"
# CloudFront keeps a page until our invalidation after each upload replaces it (s-maxage); a browser
# revalidates after a minute, so a guest who reloads sees a change or a cancellation quickly.
CACHE_CONTROL = "public, max-age=60, s-maxage=31536000"
# Without a distribution to invalidate, a shared cache must not hold a page for long: 5 minutes.
CACHE_CONTROL_WITHOUT_INVALIDATION = "public, max-age=60, s-maxage=300"
# Letters and digits only, as the CloudFront rewrite accepts (7 to 26): a session id is a path segment.
_SESSION_ID = re.compile(r"^[0-9A-Z]{7,26}$")
# The one refusal botocore does not retry and that clears by itself: retried with INVALIDATION_POLICY. Throttling
# and 5xx are botocore's to retry (docs/RETRIES.md: each layer its share).
_INVALIDATIONS_IN_PROGRESS = "TooManyInvalidationsInProgress"


# Object metadata holding the page's content hash (S3 sends it as x-amz-meta-page-sha256).
PAGE_HASH_METADATA = "page-sha256"


def page_key(session_id: str) -> str:
    """The S3 key of a guest page: ``jada-guest-<SESSION_ID>.html``."""
    if not _SESSION_ID.match(session_id):
        raise ValueError("a session id is 7 to 26 upper-case letters and digits")
    return f"jada-guest-{session_id}.html"


def invalidation_paths(session_id: str) -> list[str]:
    """Exactly the two paths a guest page is served under."""
    return [f"/g/{session_id}", f"/{page_key(session_id)}"]


def caller_reference(session_id: str, content_hash: str, repair: str = "") -> str:
    """Same page, same reference: CloudFront then answers a retried invalidation with the first one.

    ``repair`` (the reconcile run's instant) sets apart the invalidation after a page is put back: the content is
    the one published before, and CloudFront would otherwise answer with that first invalidation and invalidate
    nothing (CONTRACT.md section 12).
    """
    reference = f"{session_id}-{content_hash[:24]}"
    return f"{reference}-repair-{repair}" if repair else reference


class GuestPortalHook(BaseHook):
    """Upload guest pages to the guest bucket and invalidate them on the CloudFront distribution.

    :param bucket: the guest bucket (``guest_bucket``).
    :param distribution_id: ``cloudfront_distribution_id``; empty skips invalidation (and says so).
    :param aws_conn_id: the AWS connection; its ``endpoint_url`` extra points at an emulator.
    :param invalidation_policy: how patiently to retry CloudFront's "too many invalidations in progress".

    Its S3 and CloudFront clients come from ``AwsHook``: failures arrive as ``policy.ServiceError``.
    """

    conn_name_attr = "aws_conn_id"
    default_conn_name = "aws_default"
    conn_type = "aws"
    hook_name = "Guest portal (S3 + CloudFront)"

    def __init__(
        self,
        bucket: str,
        distribution_id: str = "",
        aws_conn_id: str | None = default_conn_name,
        *,
        invalidation_policy: RetryPolicy = INVALIDATION_POLICY,
    ) -> None:
        super().__init__()
        self.bucket = bucket
        self.distribution_id = (distribution_id or "").strip()
        self.aws_conn_id = aws_conn_id
        self.invalidation_policy = invalidation_policy
        self._s3: Any = None
        self._cloudfront: Any = None

    page_key = staticmethod(page_key)

    @property
    def cache_control(self) -> str:
        """The Cache-Control header pages are uploaded with (shorter when nothing will invalidate them)."""
        return CACHE_CONTROL if self.distribution_id else CACHE_CONTROL_WITHOUT_INVALIDATION

    def upload_page(self, session_id: str, html: str, content_hash: str = "") -> str:
        """Put the page at ``jada-guest-<SESSION_ID>.html`` (one PutObject) and return its key. The content hash is
        stored with it (metadata ``page-sha256``) so a pipeline that lost its ledger can tell the page is there."""
        key = page_key(session_id)
        self._s3_client().put_object(
            Bucket=self.bucket,
            Key=key,
            Body=html.encode("utf-8"),
            ContentType=CONTENT_TYPE,
            CacheControl=self.cache_control,
            Metadata={PAGE_HASH_METADATA: content_hash} if content_hash else {},
        )
        self.log.info("Uploaded guest page s3://%s/%s", self.bucket, key)
        return key

    def uploaded_page_hash(self, session_id: str) -> str | None:
        """The content hash stored with the page now in the bucket (one HeadObject), or None if there is none."""
        try:
            head = self._s3_client().head_object(Bucket=self.bucket, Key=page_key(session_id))
        except ServiceRejected as exc:
            if exc.status == 404:
                return None
            raise
        return str(head.get("Metadata", {}).get(PAGE_HASH_METADATA) or "") or None

    def page_content_hash(self, session_id: str) -> str | None:
        """sha256 hex of the page now in the bucket, read whole (one GetObject), or None if there is none.

        The stored ``page-sha256`` metadata says what the pipeline uploaded; this says what is there now, which
        differs when someone replaced the page by hand (the drift report's question).
        """
        import hashlib

        try:
            answer = self._s3_client().get_object(Bucket=self.bucket, Key=page_key(session_id))
        except ServiceRejected as exc:
            if exc.status == 404:
                return None
            raise
        return hashlib.sha256(answer["Body"].read()).hexdigest()

    def invalidate_page(self, session_id: str, content_hash: str, *, repair: str = "") -> str | None:
        """One CloudFront invalidation of the page's two paths; returns its id, or None when skipped.

        ``repair`` goes into the CallerReference of an invalidation after a repair (``caller_reference``).
        Never waits for the invalidation to complete (it takes minutes, and emulators never report it).
        "Too many invalidations in progress" is retried with ``invalidation_policy``; throttling and 5xx by
        botocore.
        """
        if not self.distribution_id:
            self.log.info(
                "No cloudfront_distribution_id configured: skipping the invalidation of guest page %s", session_id
            )
            return None
        if not content_hash:
            raise ValueError("the page's content hash is needed for the invalidation's CallerReference")
        batch = {
            "Paths": {"Quantity": 2, "Items": invalidation_paths(session_id)},
            "CallerReference": caller_reference(session_id, content_hash, repair),
        }
        retrying = self.invalidation_policy.retrying(
            retry=lambda exc: aws_error_code(exc) == _INVALIDATIONS_IN_PROGRESS, log=self.log
        )
        answer = retrying(
            self._cloudfront_client().create_invalidation, DistributionId=self.distribution_id, InvalidationBatch=batch
        )
        invalidation_id = str(answer["Invalidation"]["Id"])
        self.log.info(
            "Invalidated guest page %s on distribution %s (invalidation %s)",
            session_id,
            self.distribution_id,
            invalidation_id,
        )
        return invalidation_id

    def _s3_client(self) -> Any:
        if self._s3 is None:
            from charter_pipeline.hooks.aws import AwsHook

            self._s3 = AwsHook(aws_conn_id=self.aws_conn_id, client_type="s3").get_conn()
        return self._s3

    def _cloudfront_client(self) -> Any:
        if self._cloudfront is None:
            from charter_pipeline.hooks.aws import AwsHook

            self._cloudfront = AwsHook(aws_conn_id=self.aws_conn_id, client_type="cloudfront").get_conn()
        return self._cloudfront
