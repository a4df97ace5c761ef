"""Create what the pipeline expects to exist (CONTRACT.md section 2), and nothing else.

    python -m sandbox.bootstrap [--dry-run] [--create-distribution] [--variable FILE|JSON] [--exports-queue URL|NAME]

Reads the ``charter_pipeline`` Variable (``--variable``, else ``AIRFLOW_VAR_CHARTER_PIPELINE``, else the defaults)
and talks to AWS through the ``aws_default`` connection, so the same command prepares the local moto stack and a
real account. It only ever creates what is missing: it never deletes or changes what exists, a second run reports
everything as existing, and ``--dry-run`` only reads. No Airflow pools are needed: the DAG caps concurrency per
service with ``max_active_tis_per_dag``.

With an exports queue (``--exports-queue``, else ``CHARTER_EXPORTS_QUEUE_URL``; CONTRACT.md section 10) it also
creates that SQS queue with a policy letting S3 send the exports bucket's notifications to it, and adds an
``ObjectCreated`` notification for the exports prefix to the bucket, keeping every notification already there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlparse

if TYPE_CHECKING:
    from charter_pipeline.config import PipelineConfig

REPO = Path(__file__).resolve().parents[1]

Outcome = Literal["exists", "created", "would create", "indexed", "would index", "skipped", "missing", "refused"]

# A CloudFront managed policy (CachingOptimized); the guest pages say themselves how long to cache.
# The bucket notification this pipeline adds; found again by its queue, not by this id.
EXPORTS_NOTIFICATION_ID = "charter-exports-to-queue"
EXPORTS_EVENTS = ["s3:ObjectCreated:*"]

CACHING_OPTIMIZED_POLICY = "658327ea-f89d-4fab-a63d-7e88639e58f6"
DISTRIBUTION_COMMENT = "JADA guest pages (charter_booking_pipeline)"


def put_plugins_on_path() -> None:
    """Make ``charter_pipeline`` importable the way Airflow sees it: sandbox is not the pipeline, plugins/ is."""
    plugins = str(REPO / "plugins")
    if plugins not in sys.path:
        sys.path.insert(0, plugins)


@dataclass(frozen=True)
class BootstrapStep:
    """One resource the pipeline needs, and what bootstrap found or did."""

    resource: str
    name: str
    outcome: Outcome
    note: str = ""

    def line(self) -> str:
        text = f"{self.resource:<24} {self.name:<40} {self.outcome}"
        return f"{text}  ({self.note})" if self.note else text


@dataclass
class BootstrapReport:
    """Everything bootstrap looked at, in order. ``distribution_id`` is the one the Variable should name."""

    dry_run: bool
    steps: list[BootstrapStep] = field(default_factory=list)
    distribution_id: str = ""
    exports_queue_url: str = ""

    @property
    def created(self) -> list[BootstrapStep]:
        return [s for s in self.steps if s.outcome == "created"]

    @property
    def ok(self) -> bool:
        """False when something needed is missing and bootstrap could not or would not create it."""
        return not any(s.outcome in ("missing", "refused") for s in self.steps)

    def lines(self) -> list[str]:
        """The report as the CLI prints it."""
        head = "dry run: nothing was created" if self.dry_run else f"{len(self.created)} created"
        return [*(s.line() for s in self.steps), head]


def bootstrap(
    config: PipelineConfig,
    *,
    aws_conn_id: str = "aws_default",
    dry_run: bool = False,
    create_distribution: bool = False,
    exports_queue: str = "",
) -> BootstrapReport:
    """Create the buckets, tables and (on request) the CloudFront distribution the pipeline needs, if missing;
    with ``exports_queue`` (a queue URL, or just a name) also the queue and the exports bucket's notification."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    def client(service: str) -> Any:
        return AwsBaseHook(aws_conn_id=aws_conn_id, client_type=service).get_conn()

    report = BootstrapReport(dry_run=dry_run, distribution_id=config.cloudfront_distribution_id)
    s3 = client("s3")
    region = s3.meta.region_name or "us-east-1"
    for folder in _local_folders(config):
        report.steps.append(_ensure_folder(folder, dry_run))
    for bucket in _buckets(config):
        report.steps.append(_ensure_bucket(s3, bucket, region, dry_run))
    dynamodb = client("dynamodb")
    ledger_step = _ensure_table(dynamodb, config.ledger_table, "booking_id", "ledger table", dry_run)
    report.steps.append(ledger_step)
    if ledger_step.outcome == "exists":
        report.steps.append(_index_existing_charters(config, aws_conn_id, dry_run))
    report.steps.append(_ensure_table(dynamodb, config.scc_events_table, "event_id", "SCC events table", dry_run))
    report.steps.append(_ensure_distribution(lambda: client("cloudfront"), config, region, report, create_distribution))
    if exports_queue.strip():
        report.steps.extend(_ensure_exports_queue(client("sqs"), s3, config, exports_queue.strip(), report))
    return report


def _ensure_exports_queue(
    sqs: Any, s3: Any, config: PipelineConfig, queue: str, report: BootstrapReport
) -> list[BootstrapStep]:
    """The queue (with its policy for S3) and the exports bucket's ObjectCreated notification to it."""
    from botocore.exceptions import ClientError

    name = queue.rstrip("/").rsplit("/", 1)[-1]
    exports = urlparse(config.exports_uri)
    bucket = exports.netloc if exports.scheme == "s3" else ""
    prefix = exports.path.lstrip("/")
    steps: list[BootstrapStep] = []
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        if "NonExistentQueue" not in _error_code(exc):
            raise
        url = ""
    if url:
        report.exports_queue_url = url
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {}).get("Policy")
        if bucket and not _lets_s3_send(policy, bucket):
            steps.append(
                BootstrapStep(
                    "SQS queue",
                    name,
                    "missing",
                    f"exists, but its policy does not let S3 send bucket {bucket}'s notifications: allow "
                    f"sqs:SendMessage to s3.amazonaws.com with aws:SourceArn arn:aws:s3:::{bucket}",
                )
            )
            return steps
        steps.append(BootstrapStep("SQS queue", name, "exists", _url_note(queue, url)))
    elif report.dry_run:
        steps.append(BootstrapStep("SQS queue", name, "would create", f"S3 may send from bucket {bucket or '-'}"))
        arn = ""
    else:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        report.exports_queue_url = url
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        if bucket:
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(_queue_policy(arn, bucket))})
        steps.append(BootstrapStep("SQS queue", name, "created", _url_note(queue, url)))
    if not bucket:
        steps.append(
            BootstrapStep(
                "bucket notification",
                "-",
                "skipped",
                "exports_uri is not on S3: drop files, then wait for the poll (the queue only hears from S3)",
            )
        )
        return steps
    steps.append(_ensure_notification(s3, bucket, prefix, arn, name, report.dry_run))
    return steps


def _url_note(asked: str, url: str) -> str:
    if "://" in asked and asked.rstrip("/") != url.rstrip("/"):
        return f"its URL is {url}, not {asked}: set CHARTER_EXPORTS_QUEUE_URL to it"
    return f"CHARTER_EXPORTS_QUEUE_URL={url}"


def _queue_policy(queue_arn: str, bucket: str) -> dict[str, Any]:
    # Only this bucket, in this queue's account, may send: the queue cannot be fed by someone else's bucket.
    account = queue_arn.split(":")[4]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ExportsBucketNotifications",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {
                    "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"},
                    "StringEquals": {"aws:SourceAccount": account},
                },
            }
        ],
    }


def _lets_s3_send(policy: str | None, bucket: str) -> bool:
    """Whether a queue policy has an Allow for S3 to send messages from ``bucket`` (a plain reading, not IAM's)."""
    try:
        statements = json.loads(policy or "{}").get("Statement", [])
    except ValueError:
        return False
    for statement in statements if isinstance(statements, list) else [statements]:
        principal = json.dumps(statement.get("Principal", ""))
        condition = statement.get("Condition")
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if (
            statement.get("Effect") == "Allow"
            and "s3.amazonaws.com" in principal
            and any(a in ("sqs:SendMessage", "sqs:*", "*") for a in actions)
            and (not condition or bucket in json.dumps(condition))
        ):
            return True
    return False


def _ensure_notification(s3: Any, bucket: str, prefix: str, queue_arn: str, queue: str, dry_run: bool) -> BootstrapStep:
    from botocore.exceptions import ClientError

    where = f"s3://{bucket}/{prefix}"
    try:
        current = s3.get_bucket_notification_configuration(Bucket=bucket)
    except ClientError as exc:
        # Only a dry run gets here without the bucket: a real run created it a few steps earlier.
        if not dry_run or _error_code(exc) not in ("404", "NoSuchBucket"):
            raise
        current = {}
    current.pop("ResponseMetadata", None)
    for entry in current.get("QueueConfigurations", []):
        rules = entry.get("Filter", {}).get("Key", {}).get("FilterRules", [])
        entry_prefix = next((r["Value"] for r in rules if r["Name"].lower() == "prefix"), "")
        if (
            entry.get("QueueArn") == queue_arn
            and prefix.startswith(entry_prefix)
            and any(e in ("s3:ObjectCreated:*", "s3:ObjectCreated:Put") for e in entry.get("Events", []))
        ):
            return BootstrapStep("bucket notification", where, "exists", f"ObjectCreated -> {queue}")
    if dry_run:
        return BootstrapStep("bucket notification", where, "would create", f"ObjectCreated -> {queue}")
    ours: dict[str, Any] = {"Id": EXPORTS_NOTIFICATION_ID, "QueueArn": queue_arn, "Events": EXPORTS_EVENTS}
    if prefix:
        # Only the exports: the quarantine (often the same bucket) must not wake the pipeline.
        ours["Filter"] = {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}}
    # S3 replaces the whole configuration on a put: every notification already there is sent back with ours.
    current["QueueConfigurations"] = [*current.get("QueueConfigurations", []), ours]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=current)
    return BootstrapStep("bucket notification", where, "created", f"ObjectCreated -> {queue}")


def _buckets(config: PipelineConfig) -> list[str]:
    names = [urlparse(uri).netloc for uri in (config.exports_uri, config.quarantine_uri) if uri.startswith("s3://")]
    names.append(config.guest_bucket)
    return list(dict.fromkeys(names))


def _local_folders(config: PipelineConfig) -> list[Path]:
    uris = (config.exports_uri, config.quarantine_uri)
    folders = [Path(unquote(urlparse(uri).path)) for uri in uris if uri.startswith("file://")]
    return list(dict.fromkeys(folders))


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _ensure_folder(folder: Path, dry_run: bool) -> BootstrapStep:
    if folder.is_dir():
        return BootstrapStep("folder", str(folder), "exists")
    if dry_run:
        return BootstrapStep("folder", str(folder), "would create")
    folder.mkdir(parents=True, exist_ok=True)
    return BootstrapStep("folder", str(folder), "created")


def _ensure_bucket(s3: Any, bucket: str, region: str, dry_run: bool) -> BootstrapStep:
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
        return BootstrapStep("S3 bucket", bucket, "exists")
    except ClientError as exc:
        if _error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            # Bucket names are global: a 403 means someone else's bucket (or no read access), never ours to touch.
            return BootstrapStep(
                "S3 bucket",
                bucket,
                "refused",
                f"exists but this connection cannot use it: {_error_code(exc) or 'error'}",
            )
    if dry_run:
        return BootstrapStep("S3 bucket", bucket, "would create", f"region {region}")
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        # us-east-1 is the one region that refuses an explicit LocationConstraint.
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as exc:
        if _error_code(exc) == "BucketAlreadyOwnedByYou":
            return BootstrapStep("S3 bucket", bucket, "exists")
        raise
    return BootstrapStep("S3 bucket", bucket, "created", f"region {region}")


def _index_existing_charters(config: PipelineConfig, aws_conn_id: str, dry_run: bool) -> BootstrapStep:
    """The Charter bookings page finds upcoming charters through a month index the poll keeps from now on; a
    ledger written before that needs its bookings indexed once (idempotent, so every bootstrap may do it): one
    Scan of the whole table, then the index the poll writes."""
    from charter_pipeline.hooks.ledger import LedgerHook
    from charter_pipeline.ledger import LedgerRecord
    from charter_pipeline.stores.booking_records import BookingRecords
    from charter_pipeline.stores.charter_index import CharterIndex
    from charter_pipeline.stores.poll_state import PollStateStore

    resource, name = "charter month index", f"{config.ledger_table} (#charters items)"
    if dry_run:
        return BootstrapStep(resource, name, "would index", "every booking by the month its charter starts in")
    ledger = LedgerHook(config.ledger_table, aws_conn_id=aws_conn_id)
    records = [
        LedgerRecord(booking_id=item["booking_id"], snapshot=json.loads(item["snapshot"]))
        for item in ledger.scan(("booking_id", "snapshot"))
        if not item["booking_id"].startswith("#") and "snapshot" in item
    ]
    CharterIndex(ledger, BookingRecords(ledger), PollStateStore(ledger)).index_charters(records)
    return BootstrapStep(
        resource, name, "indexed", f"{len(records)} booking(s), {ledger.calls} call(s); for the staff page"
    )


def _ensure_table(dynamodb: Any, table: str, key: str, resource: str, dry_run: bool) -> BootstrapStep:
    from botocore.exceptions import ClientError

    owner_note = "owned by ShipCaptainCrew in production" if key == "event_id" else ""
    try:
        described = dynamodb.describe_table(TableName=table)["Table"]
    except ClientError as exc:
        if _error_code(exc) != "ResourceNotFoundException":
            raise
    else:
        schema = {k["AttributeName"] for k in described.get("KeySchema", []) if k.get("KeyType") == "HASH"}
        if schema != {key}:
            found = ", ".join(sorted(schema)) or "none"
            return BootstrapStep(resource, table, "refused", f"partition key is {found}, the pipeline needs {key} (S)")
        return BootstrapStep(resource, table, "exists", owner_note)
    created_note = f"partition key {key} (S), on demand"
    if key == "event_id":
        created_note += "; SCC owns this table in production, created here only because it is missing"
    if dry_run:
        return BootstrapStep(resource, table, "would create", created_note)
    try:
        dynamodb.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except ClientError as exc:
        if _error_code(exc) == "ResourceInUseException":
            return BootstrapStep(resource, table, "exists", owner_note)
        raise
    dynamodb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 2, "MaxAttempts": 60})
    return BootstrapStep(resource, table, "created", created_note)


def _distributions(cloudfront: Any) -> Iterator[dict[str, Any]]:
    for page in cloudfront.get_paginator("list_distributions").paginate():
        yield from page.get("DistributionList", {}).get("Items", []) or []


def _origin_domain(bucket: str, region: str) -> str:
    return f"{bucket}.s3.{region}.amazonaws.com"


def _ensure_distribution(
    cloudfront_client: Callable[[], Any],
    config: PipelineConfig,
    region: str,
    report: BootstrapReport,
    create: bool,
) -> BootstrapStep:
    from botocore.exceptions import ClientError

    configured = config.cloudfront_distribution_id
    if not create and not configured:
        return BootstrapStep(
            "CloudFront distribution",
            "-",
            "skipped",
            "cloudfront_distribution_id is empty: the pipeline skips invalidations (--create-distribution makes one)",
        )
    cloudfront = cloudfront_client()
    if configured:
        try:
            cloudfront.get_distribution(Id=configured)
            return BootstrapStep("CloudFront distribution", configured, "exists")
        except ClientError as exc:
            if _error_code(exc) != "NoSuchDistribution":
                raise
        if not create:
            return BootstrapStep(
                "CloudFront distribution",
                configured,
                "missing",
                "cloudfront_distribution_id names no distribution this connection can see",
            )
    domain = _origin_domain(config.guest_bucket, region)
    for summary in _distributions(cloudfront):
        origins = summary.get("Origins", {}).get("Items", []) or []
        if any(o.get("DomainName") == domain for o in origins):
            report.distribution_id = summary["Id"]
            return BootstrapStep(
                "CloudFront distribution",
                summary["Id"],
                "exists",
                f"origin {domain}; set cloudfront_distribution_id to {summary['Id']}",
            )
    if report.dry_run:
        return BootstrapStep("CloudFront distribution", "-", "would create", f"origin {domain}")
    created = cloudfront.create_distribution(DistributionConfig=_distribution_config(config.guest_bucket, domain))
    report.distribution_id = created["Distribution"]["Id"]
    return BootstrapStep(
        "CloudFront distribution",
        report.distribution_id,
        "created",
        f"origin {domain}; set cloudfront_distribution_id to {report.distribution_id}",
    )


def _distribution_config(bucket: str, domain: str) -> dict[str, Any]:
    origin_id = f"guest-bucket-{bucket}"
    methods = {"Quantity": 2, "Items": ["GET", "HEAD"]}
    return {
        # Derived from the bucket, so CloudFront itself refuses a duplicate if two bootstraps race.
        "CallerReference": f"charter-guest-pages-{bucket}",
        "Comment": DISTRIBUTION_COMMENT,
        "Enabled": True,
        "PriceClass": "PriceClass_100",
        "Origins": {
            "Quantity": 1,
            "Items": [{"Id": origin_id, "DomainName": domain, "S3OriginConfig": {"OriginAccessIdentity": ""}}],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": origin_id,
            "ViewerProtocolPolicy": "redirect-to-https",
            "CachePolicyId": CACHING_OPTIMIZED_POLICY,
            "Compress": True,
            "AllowedMethods": {**methods, "CachedMethods": methods},
        },
    }


def read_variable(value: str | None) -> dict[str, Any] | str | None:
    """The Variable from ``--variable`` (a file or inline JSON), else ``AIRFLOW_VAR_CHARTER_PIPELINE``, else None."""
    if value is None:
        return os.environ.get("AIRFLOW_VAR_CHARTER_PIPELINE")
    if value.lstrip().startswith("{"):
        return value
    return Path(value).read_text(encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """CLI entry: ``python -m sandbox.bootstrap``."""
    put_plugins_on_path()
    from charter_pipeline.config import ConfigError, load_config

    parser = argparse.ArgumentParser(prog="python -m sandbox.bootstrap", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="only say what would be created")
    parser.add_argument(
        "--create-distribution",
        action="store_true",
        help="create a CloudFront distribution for the guest bucket if there is none",
    )
    parser.add_argument("--variable", metavar="FILE|JSON", help="the charter_pipeline Variable (file or JSON)")
    parser.add_argument("--aws-conn-id", default="aws_default", help="Airflow connection for AWS")
    parser.add_argument(
        "--exports-queue",
        metavar="URL|NAME",
        default=os.environ.get("CHARTER_EXPORTS_QUEUE_URL", ""),
        help="also create this SQS queue and the exports bucket's notification to it "
        "(default: CHARTER_EXPORTS_QUEUE_URL)",
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(read_variable(args.variable))
    except (ConfigError, OSError) as exc:
        print(f"bootstrap: {exc}", file=sys.stderr)
        return 2
    report = bootstrap(
        config,
        aws_conn_id=args.aws_conn_id,
        dry_run=args.dry_run,
        create_distribution=args.create_distribution,
        exports_queue=args.exports_queue,
    )
    for line in report.lines():
        print(line)
    if report.distribution_id and report.distribution_id != config.cloudfront_distribution_id:
        print(f"cloudfront_distribution_id: {report.distribution_id}")
    if report.exports_queue_url and report.exports_queue_url != args.exports_queue.strip():
        print(f"CHARTER_EXPORTS_QUEUE_URL={report.exports_queue_url}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
