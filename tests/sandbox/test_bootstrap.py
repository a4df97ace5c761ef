"""sandbox.bootstrap against a moto server, reached through the aws_default connection like the pipeline does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from charter_pipeline.config import load_config
from sandbox.bootstrap import bootstrap, main

if TYPE_CHECKING:
    from mypy_boto3_cloudfront.client import CloudFrontClient
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client

MOTO_KEY = "testing"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    yield url
    # moto keeps one set of AWS data per process: leave none behind for other modules.
    requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
    server.stop()


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty moto account behind AIRFLOW_CONN_AWS_DEFAULT (us-east-1)."""
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", _connection(moto_url, "us-east-1"))
    yield moto_url
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()


def _connection(url: str, region: str) -> str:
    return json.dumps(
        {
            "conn_type": "aws",
            "login": MOTO_KEY,
            "password": MOTO_KEY,
            "extra": {"endpoint_url": url, "region_name": region},
        }
    )


def _moto(url: str, region: str = "us-east-1") -> dict[str, Any]:
    return {
        "endpoint_url": url,
        "region_name": region,
        "aws_access_key_id": MOTO_KEY,
        "aws_secret_access_key": MOTO_KEY,
    }


def _s3(url: str, region: str = "us-east-1") -> S3Client:
    return boto3.client("s3", **_moto(url, region))


def _dynamodb(url: str) -> DynamoDBClient:
    return boto3.client("dynamodb", **_moto(url))


def _cloudfront(url: str) -> CloudFrontClient:
    return boto3.client("cloudfront", **_moto(url))


def _state(url: str) -> dict[str, Any]:
    s3, dynamodb, cloudfront = _s3(url), _dynamodb(url), _cloudfront(url)
    return {
        "buckets": sorted(b["Name"] for b in s3.list_buckets()["Buckets"]),
        "tables": sorted(dynamodb.list_tables()["TableNames"]),
        "distributions": [d["Id"] for d in cloudfront.list_distributions()["DistributionList"].get("Items", [])],
    }


def test_creates_buckets_tables_and_distribution(aws: str) -> None:
    report = bootstrap(load_config(None), create_distribution=True)

    assert report.ok
    assert _state(aws)["buckets"] == ["jada-boatsetter-exports", "queenofsandiego.com"]
    assert _state(aws)["tables"] == ["charter-booking-ledger", "scc-events"]
    dynamodb = _dynamodb(aws)
    for table, key in (("charter-booking-ledger", "booking_id"), ("scc-events", "event_id")):
        described = dynamodb.describe_table(TableName=table)["Table"]
        assert described["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}]
        assert described["AttributeDefinitions"] == [{"AttributeName": key, "AttributeType": "S"}]
        assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    [distribution_id] = _state(aws)["distributions"]
    assert report.distribution_id == distribution_id
    config = _cloudfront(aws).get_distribution_config(Id=distribution_id)["DistributionConfig"]
    assert [o["DomainName"] for o in config["Origins"]["Items"]] == ["queenofsandiego.com.s3.us-east-1.amazonaws.com"]
    assert sorted(s.name for s in report.created) == sorted(
        ["jada-boatsetter-exports", "queenofsandiego.com", "charter-booking-ledger", "scc-events", distribution_id]
    )
    scc_step = next(s for s in report.steps if s.name == "scc-events")
    assert "ShipCaptainCrew" in scc_step.note or "SCC" in scc_step.note


def test_second_run_creates_nothing(aws: str) -> None:
    first = bootstrap(load_config(None), create_distribution=True)
    before = _state(aws)

    second = bootstrap(load_config(None), create_distribution=True)

    assert second.created == []
    assert {s.outcome for s in second.steps} == {"exists", "indexed"}  # the index step is safe to repeat
    assert second.distribution_id == first.distribution_id
    assert _state(aws) == before


def test_configured_distribution_is_used_not_duplicated(aws: str) -> None:
    made = bootstrap(load_config(None), create_distribution=True).distribution_id

    report = bootstrap(load_config({"cloudfront_distribution_id": made}), create_distribution=True)

    assert report.distribution_id == made
    assert len(_state(aws)["distributions"]) == 1


def test_without_create_distribution_an_empty_id_is_only_reported(aws: str) -> None:
    report = bootstrap(load_config(None))

    assert _state(aws)["distributions"] == []
    step = report.steps[-1]
    assert step.outcome == "skipped"
    assert "cloudfront_distribution_id" in step.note


def test_a_configured_distribution_that_does_not_exist_is_reported_missing(aws: str) -> None:
    report = bootstrap(load_config({"cloudfront_distribution_id": "E2NOSUCHDIST"}))

    assert not report.ok
    assert report.steps[-1].outcome == "missing"
    assert _state(aws)["distributions"] == []


def test_dry_run_writes_nothing(aws: str) -> None:
    report = bootstrap(load_config(None), dry_run=True, create_distribution=True)

    assert _state(aws) == {"buckets": [], "tables": [], "distributions": []}
    assert {s.outcome for s in report.steps} == {"would create"}
    assert report.created == []
    assert report.lines()[-1] == "dry run: nothing was created"


def test_never_deletes_or_modifies_what_exists(aws: str) -> None:
    s3, dynamodb = _s3(aws), _dynamodb(aws)
    s3.create_bucket(Bucket="queenofsandiego.com")
    s3.put_object(Bucket="queenofsandiego.com", Key="jada-guest-ABC.html", Body=b"<p>kept</p>")
    s3.put_bucket_tagging(Bucket="queenofsandiego.com", Tagging={"TagSet": [{"Key": "owner", "Value": "jada"}]})
    dynamodb.create_table(
        TableName="charter-booking-ledger",
        AttributeDefinitions=[{"AttributeName": "booking_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "booking_id", "KeyType": "HASH"}],
        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
    )
    dynamodb.put_item(TableName="charter-booking-ledger", Item={"booking_id": {"S": "BS-1"}, "status": {"S": "done"}})
    # An SCC table with the wrong key is SCC's business: reported, never "fixed".
    dynamodb.create_table(
        TableName="scc-events",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )

    report = bootstrap(load_config(None))

    assert s3.get_object(Bucket="queenofsandiego.com", Key="jada-guest-ABC.html")["Body"].read() == b"<p>kept</p>"
    assert s3.get_bucket_tagging(Bucket="queenofsandiego.com")["TagSet"] == [{"Key": "owner", "Value": "jada"}]
    ledger = dynamodb.describe_table(TableName="charter-booking-ledger")["Table"]
    assert ledger["ProvisionedThroughput"]["ReadCapacityUnits"] == 1
    assert dynamodb.get_item(TableName="charter-booking-ledger", Key={"booking_id": {"S": "BS-1"}})["Item"]["status"]
    scc = dynamodb.describe_table(TableName="scc-events")["Table"]
    assert scc["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    outcomes = {s.name: s.outcome for s in report.steps}
    assert outcomes["queenofsandiego.com"] == "exists"
    assert outcomes["charter-booking-ledger"] == "exists"
    assert outcomes["scc-events"] == "refused"
    assert outcomes["jada-boatsetter-exports"] == "created"
    assert not report.ok


def test_other_regions_get_a_location_constraint(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", _connection(moto_url, "eu-west-1"))

    bootstrap(
        load_config({"exports_uri": "s3://charter-exports-eu/in/", "quarantine_uri": "s3://charter-exports-eu/q/"})
    )

    s3 = _s3(moto_url, "eu-west-1")
    assert s3.get_bucket_location(Bucket="charter-exports-eu")["LocationConstraint"] == "eu-west-1"
    assert s3.get_bucket_location(Bucket="queenofsandiego.com")["LocationConstraint"] == "eu-west-1"


def test_file_locations_get_folders_not_buckets(aws: str, tmp_path: Path) -> None:
    exports, quarantine = tmp_path / "exports", tmp_path / "quarantine"
    config = load_config({"exports_uri": f"file://{exports}/", "quarantine_uri": f"file://{quarantine}/"})

    dry = bootstrap(config, dry_run=True)
    assert not exports.exists()
    assert [s.outcome for s in dry.steps if s.resource == "folder"] == ["would create", "would create"]

    bootstrap(config)
    assert exports.is_dir()
    assert quarantine.is_dir()
    assert _state(aws)["buckets"] == ["queenofsandiego.com"]


def test_cli_reads_the_variable_and_prints_the_distribution_id(aws: str, capsys: pytest.CaptureFixture[str]) -> None:
    variable = json.dumps({"guest_bucket": "guests.example.com"})

    assert main(["--variable", variable, "--create-distribution"]) == 0

    out = capsys.readouterr().out
    [distribution_id] = _state(aws)["distributions"]
    assert f"cloudfront_distribution_id: {distribution_id}" in out
    assert "guests.example.com" in _state(aws)["buckets"]
    assert MOTO_KEY not in out


def test_cli_takes_the_variable_from_the_environment_or_a_file(
    aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_CHARTER_PIPELINE", json.dumps({"ledger_table": "ledger-from-env"}))
    assert main(["--dry-run"]) == 0
    assert _state(aws)["tables"] == []

    assert main([]) == 0
    assert "ledger-from-env" in _state(aws)["tables"]

    variable_file = tmp_path / "charter_pipeline.json"
    variable_file.write_text(json.dumps({"ledger_table": "ledger-from-file"}))
    assert main(["--variable", str(variable_file)]) == 0
    assert "ledger-from-file" in _state(aws)["tables"]


def test_cli_refuses_a_bad_variable(aws: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--variable", '{"ledger_tabel": "x"}']) == 2
    assert "ledger_tabel" in capsys.readouterr().err
    assert _state(aws)["buckets"] == []


def _sqs(url: str) -> Any:
    return boto3.client("sqs", **_moto(url))


def _queue_messages(url: str, queue_url: str) -> list[dict[str, Any]]:
    answer = _sqs(url).receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def test_the_exports_queue_hears_of_new_exports_and_not_of_quarantine(aws: str) -> None:
    config = load_config(None)  # exports s3://jada-boatsetter-exports/incoming/, quarantine .../quarantine/

    report = bootstrap(config, exports_queue="charter-exports")

    assert report.ok
    queue_url = report.exports_queue_url
    assert queue_url.endswith("/charter-exports")
    assert [(s.resource, s.outcome) for s in report.steps[-2:]] == [
        ("SQS queue", "created"),
        ("bucket notification", "created"),
    ]
    policy = json.loads(
        _sqs(aws).get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Condition"]["ArnLike"] == {"aws:SourceArn": "arn:aws:s3:::jada-boatsetter-exports"}
    _queue_messages(aws, queue_url)  # moto may send S3's test event first

    s3 = _s3(aws)
    s3.put_object(Bucket="jada-boatsetter-exports", Key="quarantine/bad.csv", Body=b"x")
    s3.put_object(Bucket="jada-boatsetter-exports", Key="incoming/bookings.csv", Body=b"x")

    messages = _queue_messages(aws, queue_url)
    keys = [r["s3"]["object"]["key"] for m in messages for r in m.get("Records", [])]
    assert [k.replace("%2F", "/") for k in keys] == ["incoming/bookings.csv"]


def test_a_second_run_finds_the_queue_and_keeps_other_notifications(aws: str) -> None:
    config = load_config(None)
    first = bootstrap(config, exports_queue="charter-exports")
    s3 = _s3(aws)
    other_queue = _sqs(aws).create_queue(QueueName="someone-elses")["QueueUrl"]
    other_arn = _sqs(aws).get_queue_attributes(QueueUrl=other_queue, AttributeNames=["QueueArn"])["Attributes"]
    notifications = s3.get_bucket_notification_configuration(Bucket="jada-boatsetter-exports")
    notifications.pop("ResponseMetadata", None)
    notifications["QueueConfigurations"].append(
        {"Id": "theirs", "QueueArn": other_arn["QueueArn"], "Events": ["s3:ObjectRemoved:*"]}
    )
    s3.put_bucket_notification_configuration(Bucket="jada-boatsetter-exports", NotificationConfiguration=notifications)

    again = bootstrap(config, exports_queue=first.exports_queue_url)

    assert again.created == []
    assert [s.outcome for s in again.steps[-2:]] == ["exists", "exists"]
    assert again.exports_queue_url == first.exports_queue_url
    kept = s3.get_bucket_notification_configuration(Bucket="jada-boatsetter-exports")["QueueConfigurations"]
    assert sorted(c.get("Id", "") for c in kept) == sorted(["charter-exports-to-queue", "theirs"])


def test_dry_run_names_the_queue_and_notification_and_creates_neither(aws: str) -> None:
    report = bootstrap(load_config(None), dry_run=True, exports_queue="charter-exports")

    assert [(s.resource, s.outcome) for s in report.steps[-2:]] == [
        ("SQS queue", "would create"),
        ("bucket notification", "would create"),
    ]
    assert _sqs(aws).list_queues().get("QueueUrls", []) == []


def test_an_existing_queue_s3_may_not_send_to_is_reported_not_changed(aws: str) -> None:
    queue_url = _sqs(aws).create_queue(QueueName="charter-exports")["QueueUrl"]
    _s3(aws).create_bucket(Bucket="jada-boatsetter-exports")

    report = bootstrap(load_config(None), exports_queue=queue_url)

    assert not report.ok
    step = report.steps[-1]
    assert (step.resource, step.outcome) == ("SQS queue", "missing")
    assert "arn:aws:s3:::jada-boatsetter-exports" in step.note
    assert "Policy" not in _sqs(aws).get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    notifications = _s3(aws).get_bucket_notification_configuration(Bucket="jada-boatsetter-exports")
    assert notifications.get("QueueConfigurations", []) == []


def test_exports_in_a_folder_get_the_queue_but_no_notification(aws: str, tmp_path: Path) -> None:
    config = load_config({"exports_uri": (tmp_path / "in").as_uri() + "/"})

    report = bootstrap(config, exports_queue="charter-exports")

    assert [(s.resource, s.outcome) for s in report.steps[-2:]] == [
        ("SQS queue", "created"),
        ("bucket notification", "skipped"),
    ]


def test_cli_takes_the_queue_from_the_environment(
    aws: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHARTER_EXPORTS_QUEUE_URL", "http://127.0.0.1:1/123456789012/charter-exports")

    assert main(["--dry-run"]) == 0
    assert "SQS queue" in capsys.readouterr().out

    assert main([]) == 0
    out = capsys.readouterr().out
    [queue_url] = _sqs(aws).list_queues()["QueueUrls"]
    # moto answers with its own host: the printed URL is the one to deploy with.
    assert f"CHARTER_EXPORTS_QUEUE_URL={queue_url}\n" in out


def test_an_existing_ledger_gets_its_charters_indexed_for_the_staff_page(aws: str) -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from charter_pipeline.booking import parse_booking
    from charter_pipeline.ledger import LedgerRecord
    from charter_pipeline.task_runtime import Hooks

    bootstrap(load_config(None))
    ledger = Hooks.from_config(load_config(None))
    booking = parse_booking(
        {"Booking ID": "BS-OLD", "Status": "approved", "Boat": "Sea Breeze", "Renter Name": "Jane Doe",
         "Trip Date": "2027-03-04", "Start Time": "10:00", "Duration Hours": "3", "Passengers": "4",
         "Gross": "840.75"},
        ZoneInfo("America/Los_Angeles"),
    )  # fmt: skip
    snapshot = booking.to_dict()
    # Written as a ledger from before the index: the record alone, no month item.
    ledger.records.save_snapshots([LedgerRecord(booking_id="BS-OLD", snapshot=snapshot, fingerprint="f")], {})
    march = (datetime(2027, 3, 1, tzinfo=UTC), datetime(2027, 4, 1, tzinfo=UTC))
    assert ledger.charter_index.charters_starting(*march)[0] == []

    assert "would index" in {s.outcome for s in bootstrap(load_config(None), dry_run=True).steps}
    assert ledger.charter_index.charters_starting(*march)[0] == []
    report = bootstrap(load_config(None))

    step = next(s for s in report.steps if s.resource == "charter month index")
    assert (step.outcome, step.note.split(",")[0]) == ("indexed", "1 booking(s)")
    assert [r.booking_id for r in ledger.charter_index.charters_starting(*march)[0]] == ["BS-OLD"]
