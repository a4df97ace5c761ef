"""Create what the pipeline expects to exist (CONTRACT.md section 2), and nothing else.

    python -m sandbox.bootstrap [--dry-run] [--create-distribution] [--variable FILE|JSON] [--exports-queue URL|NAME]
                                [--no-webhook]

Reads the ``charter_pipeline`` Variable (``--variable``, else ``AIRFLOW_VAR_CHARTER_PIPELINE``, else the defaults)
and talks to AWS through the ``aws_default`` connection, so the same command prepares the local moto stack and a
real account. It only ever creates what is missing: it never deletes or changes what exists, a second run reports
everything as existing, and ``--dry-run`` only reads. No Airflow pools are needed: the DAG caps concurrency per
service with ``max_active_tis_per_dag``.

With an exports queue (``--exports-queue``, else ``CHARTER_EXPORTS_QUEUE_URL``; CONTRACT.md section 10) it also
creates that SQS queue with a policy letting S3 send the exports bucket's notifications to it, and adds an
``ObjectCreated`` notification for the exports prefix to the bucket, keeping every notification already there.

With webhook secrets (``CHARTER_WEBHOOK_SECRETS`` in the environment; CONTRACT.md section 14; ``--no-webhook``
skips it) it also deploys the booking webhook: an IAM role that may only put objects under the exports prefix's
``webhook/`` (and write its own logs), the Lambda function (a zip of ``charter_pipeline.webhook`` and the package
modules it imports, none of them Airflow's), a reserved concurrency cap, and the function URL (auth NONE: the
signature is the authentication) with the permission letting anyone call it. The secrets go into the function's
environment and are never printed.
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

# The booking webhook (CONTRACT.md section 14).
WEBHOOK_FUNCTION = "charter-booking-webhook"
WEBHOOK_ROLE = "charter-booking-webhook"
WEBHOOK_ROLE_POLICY = "put-webhook-exports"
WEBHOOK_RUNTIME = "python3.12"
WEBHOOK_MEMORY_MB = 256
WEBHOOK_TIMEOUT_SECONDS = 30
# A cap on concurrent deliveries: a flood (or a sender's retry storm) cannot run up the bill or starve the account's
# other functions; senders get 429 beyond it and retry. Ten is far above a charter operator's booking rate.
WEBHOOK_RESERVED_CONCURRENCY = 10
WEBHOOK_URL_STATEMENTS = ("charter-webhook-url", "charter-webhook-url-invoke")
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
    webhook_url: str = ""

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
    webhook_secrets: str | None = None,
) -> BootstrapReport:
    """Create the buckets, tables and (on request) the CloudFront distribution the pipeline needs, if missing;
    with ``exports_queue`` (a queue URL, or just a name) also the queue and the exports bucket's notification;
    with ``webhook_secrets`` (not None: the comma-separated secrets, maybe empty) also the booking webhook."""
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
    if webhook_secrets is not None:
        report.steps.extend(_ensure_webhook(client, config, webhook_secrets, region, report))
    return report


def webhook_role_policy(config: PipelineConfig, region: str, account: str) -> dict[str, Any]:
    """All the webhook's role may do: put objects under the exports prefix's webhook/, and write its own logs."""
    exports = urlparse(config.exports_uri)
    prefix = exports.path.lstrip("/")
    log_group = f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{WEBHOOK_FUNCTION}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "StoreDeliveries",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{exports.netloc}/{prefix}webhook/*",
            },
            {"Sid": "OwnLogGroup", "Effect": "Allow", "Action": "logs:CreateLogGroup", "Resource": log_group},
            {
                "Sid": "OwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{log_group}:*",
            },
        ],
    }


_LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def _ensure_webhook(
    client: Callable[[str], Any], config: PipelineConfig, secrets: str, region: str, report: BootstrapReport
) -> list[BootstrapStep]:
    """The role, the function, its concurrency cap, its URL and the URL's public permission, each if missing."""
    from botocore.exceptions import ClientError

    from charter_pipeline.webhook import DEFAULT_TIMEZONE, ENV_EXPORTS_URI, ENV_SECRETS, ENV_TIMEZONE, parse_secrets

    if not config.exports_uri.startswith("s3://"):
        return [
            BootstrapStep("booking webhook", "-", "skipped", "exports_uri is not on S3: a Lambda cannot write there")
        ]
    if not parse_secrets(secrets):
        return [
            BootstrapStep(
                "booking webhook",
                WEBHOOK_FUNCTION,
                "skipped",
                f"{ENV_SECRETS} is not set: give one or more secrets, comma-separated, to deploy it",
            )
        ]
    dry_run = report.dry_run
    iam, lambda_ = client("iam"), client("lambda")
    steps: list[BootstrapStep] = []
    exports = urlparse(config.exports_uri)
    where = f"s3://{exports.netloc}/{exports.path.lstrip('/')}webhook/*"
    try:
        role_arn = iam.get_role(RoleName=WEBHOOK_ROLE)["Role"]["Arn"]
        steps.append(BootstrapStep("IAM role", WEBHOOK_ROLE, "exists", "left as it is"))
    except ClientError as exc:
        if _error_code(exc) != "NoSuchEntity":
            raise
        role_arn = ""
    if not role_arn:
        note = f"may only s3:PutObject {where} (and write its own log group)"
        if dry_run:
            steps.append(BootstrapStep("IAM role", WEBHOOK_ROLE, "would create", note))
        else:
            role_arn = iam.create_role(
                RoleName=WEBHOOK_ROLE,
                AssumeRolePolicyDocument=json.dumps(_LAMBDA_TRUST),
                Description="charter booking webhook: stores signed deliveries as exports",
            )["Role"]["Arn"]
            account = role_arn.split(":")[4]
            iam.put_role_policy(
                RoleName=WEBHOOK_ROLE,
                PolicyName=WEBHOOK_ROLE_POLICY,
                PolicyDocument=json.dumps(webhook_role_policy(config, region, account)),
            )
            steps.append(BootstrapStep("IAM role", WEBHOOK_ROLE, "created", note))

    from sandbox.webhook import HANDLER, lambda_package

    package = lambda_package()
    environment = {ENV_EXPORTS_URI: config.exports_uri, ENV_SECRETS: secrets, ENV_TIMEZONE: config.timezone}
    count = len(parse_secrets(secrets))
    what = (
        f"{WEBHOOK_RUNTIME}, handler {HANDLER}, zip of {len(package.zip_bytes) // 1024} KiB "
        f"({', '.join(m.removeprefix('charter_pipeline/') for m in package.modules)} + tzdata), "
        f"{ENV_EXPORTS_URI}={config.exports_uri}, {ENV_TIMEZONE}={config.timezone or DEFAULT_TIMEZONE}, "
        f"{ENV_SECRETS}=<{count} secret(s), not shown>"
    )
    try:
        lambda_.get_function(FunctionName=WEBHOOK_FUNCTION)
        steps.append(BootstrapStep("Lambda function", WEBHOOK_FUNCTION, "exists", "code and settings left as they are"))
        function_exists = True
    except ClientError as exc:
        if _error_code(exc) != "ResourceNotFoundException":
            raise
        function_exists = False
    if not function_exists:
        if dry_run:
            steps.append(BootstrapStep("Lambda function", WEBHOOK_FUNCTION, "would create", what))
        else:
            _create_function(lambda_, role_arn, package.zip_bytes, environment)
            steps.append(BootstrapStep("Lambda function", WEBHOOK_FUNCTION, "created", what))
    steps.append(_ensure_concurrency(lambda_, function_exists, dry_run))
    steps.append(_ensure_function_url(lambda_, function_exists, report))
    steps.append(_ensure_url_permission(lambda_, function_exists, dry_run))
    return steps


def _create_function(lambda_: Any, role_arn: str, zip_bytes: bytes, environment: dict[str, str]) -> None:
    import time

    from botocore.exceptions import ClientError

    from sandbox.webhook import HANDLER

    # A role created seconds ago is not yet assumable by Lambda (IAM is eventually consistent): try for a minute.
    for attempt in range(12):
        try:
            lambda_.create_function(
                FunctionName=WEBHOOK_FUNCTION,
                Runtime=WEBHOOK_RUNTIME,
                Role=role_arn,
                Handler=HANDLER,
                Code={"ZipFile": zip_bytes},
                Description="Signed booking webhook: stores deliveries as exports (CONTRACT.md section 14)",
                Timeout=WEBHOOK_TIMEOUT_SECONDS,
                MemorySize=WEBHOOK_MEMORY_MB,
                Environment={"Variables": environment},
            )
            break
        except ClientError as exc:
            if _error_code(exc) != "InvalidParameterValueException" or "assume" not in str(exc) or attempt == 11:
                raise
            time.sleep(5)
    lambda_.get_waiter("function_active_v2").wait(
        FunctionName=WEBHOOK_FUNCTION, WaiterConfig={"Delay": 2, "MaxAttempts": 60}
    )


def _ensure_concurrency(lambda_: Any, function_exists: bool, dry_run: bool) -> BootstrapStep:
    name = f"{WEBHOOK_FUNCTION}: {WEBHOOK_RESERVED_CONCURRENCY}"
    if function_exists:
        reserved = lambda_.get_function_concurrency(FunctionName=WEBHOOK_FUNCTION).get("ReservedConcurrentExecutions")
        if reserved is not None:
            return BootstrapStep("reserved concurrency", f"{WEBHOOK_FUNCTION}: {reserved}", "exists")
    if dry_run:
        return BootstrapStep("reserved concurrency", name, "would create", "deliveries beyond it get 429 and retry")
    lambda_.put_function_concurrency(
        FunctionName=WEBHOOK_FUNCTION, ReservedConcurrentExecutions=WEBHOOK_RESERVED_CONCURRENCY
    )
    return BootstrapStep("reserved concurrency", name, "created", "deliveries beyond it get 429 and retry")


def _ensure_function_url(lambda_: Any, function_exists: bool, report: BootstrapReport) -> BootstrapStep:
    from botocore.exceptions import ClientError

    if function_exists:
        try:
            found = lambda_.get_function_url_config(FunctionName=WEBHOOK_FUNCTION)
        except ClientError as exc:
            if _error_code(exc) != "ResourceNotFoundException":
                raise
        else:
            report.webhook_url = found["FunctionUrl"]
            if found.get("AuthType") != "NONE":
                return BootstrapStep(
                    "function URL",
                    report.webhook_url,
                    "refused",
                    f"auth type is {found.get('AuthType')}: senders sign, they cannot sign AWS requests (needs NONE)",
                )
            return BootstrapStep("function URL", report.webhook_url, "exists", "auth NONE: the signature authenticates")
    if report.dry_run:
        return BootstrapStep("function URL", WEBHOOK_FUNCTION, "would create", "auth NONE: the signature authenticates")
    report.webhook_url = lambda_.create_function_url_config(FunctionName=WEBHOOK_FUNCTION, AuthType="NONE")[
        "FunctionUrl"
    ]
    return BootstrapStep("function URL", report.webhook_url, "created", "auth NONE: the signature authenticates")


def _ensure_url_permission(lambda_: Any, function_exists: bool, dry_run: bool) -> BootstrapStep:
    from botocore.exceptions import ClientError

    note = "anyone may call the URL (lambda:InvokeFunctionUrl, and lambda:InvokeFunction only through the URL)"
    if function_exists:
        try:
            policy = json.loads(lambda_.get_policy(FunctionName=WEBHOOK_FUNCTION)["Policy"])
        except ClientError as exc:
            if _error_code(exc) != "ResourceNotFoundException":
                raise
            policy = {}
        if any(s.get("Action") == "lambda:InvokeFunctionUrl" for s in policy.get("Statement", [])):
            return BootstrapStep("URL permission", WEBHOOK_FUNCTION, "exists", note)
    if dry_run:
        return BootstrapStep("URL permission", WEBHOOK_FUNCTION, "would create", note)
    url_statement, invoke_statement = WEBHOOK_URL_STATEMENTS
    lambda_.add_permission(
        FunctionName=WEBHOOK_FUNCTION,
        StatementId=url_statement,
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
    )
    # Since late 2025 AWS also wants lambda:InvokeFunction for a public URL; InvokedViaFunctionUrl keeps it to the URL.
    lambda_.add_permission(
        FunctionName=WEBHOOK_FUNCTION,
        StatementId=invoke_statement,
        Action="lambda:InvokeFunction",
        Principal="*",
        InvokedViaFunctionUrl=True,
    )
    return BootstrapStep("URL permission", WEBHOOK_FUNCTION, "created", note)


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
    parser.add_argument(
        "--no-webhook",
        action="store_true",
        help="leave out the booking webhook (deployed when CHARTER_WEBHOOK_SECRETS is set)",
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
        webhook_secrets=None if args.no_webhook else os.environ.get("CHARTER_WEBHOOK_SECRETS", ""),
    )
    for line in report.lines():
        print(line)
    if report.distribution_id and report.distribution_id != config.cloudfront_distribution_id:
        print(f"cloudfront_distribution_id: {report.distribution_id}")
    if report.exports_queue_url and report.exports_queue_url != args.exports_queue.strip():
        print(f"CHARTER_EXPORTS_QUEUE_URL={report.exports_queue_url}")
    if report.webhook_url:
        print(f"booking webhook URL: {report.webhook_url}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
