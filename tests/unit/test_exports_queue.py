"""The poll schedule with and without the exports queue, and the wake-up log line (CONTRACT.md section 10)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from charter_pipeline.exports_queue import (
    EXPORTS_ASSET,
    EXPORTS_WATCHER,
    NAMES_LOGGED,
    poll_schedule,
    wake_up_line,
)

QUEUE = "http://127.0.0.1:5056/123456789012/charter-exports"


def s3_message(*keys: str, receipt: str = "AQEB-receipt-handle-secret") -> dict[str, Any]:
    """One SQS message carrying an S3 ObjectCreated notification, as the trigger hands it over."""
    records = [
        {
            "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:AIDA-requester"},
            "requestParameters": {"sourceIPAddress": "203.0.113.9"},
            "s3": {"bucket": {"name": "jada-boatsetter-exports"}, "object": {"key": key}},
        }
        for key in keys
    ]
    return {"MessageId": "m-1", "ReceiptHandle": receipt, "Body": json.dumps({"Records": records})}


def extra(*messages: dict[str, Any]) -> dict[str, Any]:
    """An asset event's ``extra`` as Airflow stores it for a watcher's trigger event."""
    return {"from_trigger": True, "payload": {"status": "success", "message_batch": list(messages)}}


@pytest.mark.parametrize(
    "environ",
    [{}, {"CHARTER_EXPORTS_QUEUE_URL": ""}, {"CHARTER_EXPORTS_QUEUE_URL": "  "}],
)
def test_without_a_queue_the_schedule_is_todays_cron(environ: dict[str, str]) -> None:
    assert poll_schedule(environ) == "*/15 * * * *"
    assert poll_schedule({**environ, "CHARTER_POLL_SCHEDULE": "*/2 * * * *"}) == "*/2 * * * *"


def test_with_a_queue_the_cron_or_a_message_starts_a_run() -> None:
    from airflow.sdk import AssetOrTimeSchedule

    schedule = poll_schedule({"CHARTER_EXPORTS_QUEUE_URL": QUEUE, "CHARTER_POLL_SCHEDULE": "*/2 * * * *"})

    assert isinstance(schedule, AssetOrTimeSchedule)
    assert schedule.timetable.expression == "*/2 * * * *"
    asset = schedule.asset_condition
    assert asset.name == EXPORTS_ASSET
    [watcher] = asset.watchers
    assert watcher.name == EXPORTS_WATCHER
    # What the triggerer will run: the amazon provider's SQS trigger on our queue, through aws_default, woken fast.
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath == "airflow.providers.amazon.aws.triggers.sqs.SqsSensorTrigger"
    assert kwargs["sqs_queue"] == QUEUE
    assert kwargs["aws_conn_id"] == "aws_default"
    assert kwargs["waiter_delay"] <= 2
    assert kwargs["delete_message_on_reception"] is True
    assert kwargs["message_filtering"] is None
    json.dumps(kwargs)  # stored in the metadata DB as JSON


def test_a_scheduled_or_manual_run_logs_no_wake_up() -> None:
    assert wake_up_line([]) == ""
    assert wake_up_line([{"from_trigger": True, "payload": {"status": "success"}}, None, "x"]) == ""


def test_the_wake_up_names_the_exports_and_nothing_else_of_the_message() -> None:
    line = wake_up_line([extra(s3_message("incoming/bookings+2026-11-30.csv", "incoming%2Fday.json"))])

    assert line.startswith("woken by 1 exports queue message(s)")
    assert "ObjectCreated:Put: incoming/bookings 2026-11-30.csv" in line
    assert "ObjectCreated:Put: incoming/day.json" in line
    for private in ("AQEB-receipt-handle-secret", "AIDA-requester", "203.0.113.9", "m-1"):
        assert private not in line


def test_malformed_and_test_messages_are_counted_not_trusted() -> None:
    messages = [
        {"MessageId": "a", "Body": "not json"},
        {"MessageId": "b", "Body": json.dumps(["a", "list"])},
        {"MessageId": "c", "Body": json.dumps({"Records": [{"s3": "no object"}]})},
        {"MessageId": "d"},
        {"MessageId": "e", "Body": json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})},
        s3_message("incoming/ok.csv"),
    ]
    line = wake_up_line([extra(*messages)])

    assert line.startswith("woken by 6 exports queue message(s) (ObjectCreated:Put: incoming/ok.csv)")
    assert "4 not an S3 notification, ignored" in line


def test_a_key_cannot_forge_log_lines_or_flood_the_log() -> None:
    many = [f"incoming/{n}.csv" for n in range(NAMES_LOGGED + 5)]
    line = wake_up_line([extra(s3_message("incoming/evil\nERROR forged.csv")), extra(s3_message(*many))])

    assert "\n" not in line
    assert "incoming/evil?ERROR forged.csv" in line
    assert line.count("ObjectCreated:Put") == NAMES_LOGGED
    assert "and 6 more" in line
    assert len(wake_up_line([extra(s3_message("k" * 5000))])) < 400


def test_the_wake_up_reads_the_runs_asset_events_as_the_task_sdk_gives_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    from charter_pipeline import exports_queue

    # Airflow's logging setup takes over the root handlers (caplog sees nothing): record the calls instead.
    logged: list[str] = []
    monkeypatch.setattr(exports_queue.log, "info", lambda message, *args: logged.append(message % args))

    event = AssetEventDagRunReferenceResult(
        asset={"name": EXPORTS_ASSET, "uri": EXPORTS_ASSET, "extra": {}},
        extra=extra(s3_message("incoming/a.csv")),
        source_task_id=None,
        source_dag_id=None,
        source_run_id=None,
        source_map_index=None,
        source_aliases=[],
        timestamp="2026-11-30T03:00:00Z",
    )
    exports_queue.log_wake_up(TriggeringAssetEventsAccessor.build([event]))
    exports_queue.log_wake_up(TriggeringAssetEventsAccessor.build([]))

    assert logged == [
        "woken by 1 exports queue message(s) (ObjectCreated:Put: incoming/a.csv); polling the exports as every run does"
    ]
