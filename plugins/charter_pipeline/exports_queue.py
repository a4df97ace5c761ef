"""When the pipeline runs: its poll schedule, and the exports queue that wakes it in seconds (CONTRACT.md 10).

``CHARTER_EXPORTS_QUEUE_URL`` names an SQS queue that receives the exports bucket's S3 ``ObjectCreated``
notifications. When it is set, an asset watcher in the triggerer reads that queue and every batch of messages starts
a run; the cron keeps polling as the safety net. A message is only a wake-up: the run polls the exports like any
other, so nothing here (nor anywhere in the pipeline) trusts what a message says beyond logging which export it
names.

This module is imported when the DAG file is parsed, so it stays cheap: the Airflow classes for the watcher (and
the providers they pull in) are imported only when the variable is set, and nothing here touches the network.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote_plus

log = logging.getLogger(__name__)

DEFAULT_POLL_SCHEDULE = "*/15 * * * *"
EXPORTS_ASSET = "charter_exports"
EXPORTS_WATCHER = "charter_exports_queue"
AWS_CONN_ID = "aws_default"
# The watcher sleeps this long after an empty receive; with long polling (below) a message arriving during the wait
# is returned at once, so this only spaces out the receives.
WATCHER_DELAY_SECONDS = 1
# SQS long polling: one receive waits up to this long for a message (AWS's maximum is 20). Fewer empty receives
# (SQS bills each one) and a message is seen as soon as it arrives, not at the next poke.
RECEIVE_WAIT_SECONDS = 10
# A burst of exports is taken in one receive (SQS's maximum): one wake-up, one run.
RECEIVE_MAX_MESSAGES = 10
# How many export names one wake-up log line lists; the count is always complete.
NAMES_LOGGED = 10
NAME_CHARS = 200


def poll_schedule(environ: Mapping[str, str] = os.environ) -> Any:
    """The DAG's ``schedule``: ``CHARTER_POLL_SCHEDULE`` (default every 15 minutes), and, when
    ``CHARTER_EXPORTS_QUEUE_URL`` is set, that cron OR a message on the exports queue."""
    cron = environ.get("CHARTER_POLL_SCHEDULE") or DEFAULT_POLL_SCHEDULE
    queue_url = (environ.get("CHARTER_EXPORTS_QUEUE_URL") or "").strip()
    if not queue_url:
        return cron
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

    return AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(cron, timezone="UTC"),
        assets=exports_asset(queue_url),
    )


def exports_asset(queue_url: str) -> Any:
    """The asset "a Boatsetter export landed", watched on ``queue_url`` through ``aws_default``."""
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
    from airflow.sdk import Asset, AssetWatcher

    trigger = MessageQueueTrigger(
        scheme="sqs",
        sqs_queue=queue_url,
        aws_conn_id=AWS_CONN_ID,
        waiter_delay=WATCHER_DELAY_SECONDS,
        wait_time_seconds=RECEIVE_WAIT_SECONDS,
        max_messages=RECEIVE_MAX_MESSAGES,
    )
    return Asset(name=EXPORTS_ASSET, watchers=[AssetWatcher(name=EXPORTS_WATCHER, trigger=trigger)])


def log_wake_up(triggering_asset_events: Mapping[Any, Iterable[Any]]) -> None:
    """Log which exports the queue messages behind this run named (nothing for a scheduled or manual run)."""
    line = wake_up_line(event.extra for events in triggering_asset_events.values() for event in events)
    if line:
        log.info("%s", line)


def wake_up_line(extras: Iterable[Any]) -> str:
    """One log line for the queue messages that started a run (``extras``: the asset events' ``extra``), or ""
    when the run was not started by the queue.

    Only the object keys and event names of S3 notifications are read, each shortened; anything else in a message
    (receipt handles, requester ids, source addresses) is never logged, and an unreadable message is just counted.
    """
    messages = 0
    unreadable = 0
    names: list[str] = []
    for extra in extras:
        payload = extra.get("payload") if isinstance(extra, Mapping) else None
        batch = payload.get("message_batch") if isinstance(payload, Mapping) else None
        if not isinstance(batch, list):
            continue
        for message in batch:
            messages += 1
            found = _export_names(message)
            if found is None:
                unreadable += 1
            else:
                names.extend(found)
    if not messages:
        return ""
    listed = ", ".join(names[:NAMES_LOGGED]) or "no export named"
    if len(names) > NAMES_LOGGED:
        listed += f" and {len(names) - NAMES_LOGGED} more"
    line = f"woken by {messages} exports queue message(s) ({listed})"
    if unreadable:
        line += f"; {unreadable} not an S3 notification, ignored"
    return line + "; polling the exports as every run does"


def _export_names(message: Any) -> list[str] | None:
    """``event: key`` for each S3 record of one SQS message; [] for S3's test event; None if unreadable."""
    try:
        body = json.loads(message["Body"])
    except (TypeError, KeyError, ValueError):
        return None
    if not isinstance(body, dict):
        return None
    if body.get("Event") == "s3:TestEvent":
        return []
    records = body.get("Records")
    if not isinstance(records, list):
        return None
    names = []
    for record in records:
        try:
            # S3 URL-encodes the key in notifications (spaces as "+"; moto encodes slashes too).
            key = unquote_plus(str(record["s3"]["object"]["key"]))
            event = str(record.get("eventName", "?"))
        except (TypeError, KeyError, AttributeError):
            return None
        names.append(_printable(f"{event}: {key}"))
    return names


def _printable(text: str) -> str:
    """A name fit for one log line: no control characters (a key could forge log lines), bounded length."""
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return clean if len(clean) <= NAME_CHARS else clean[: NAME_CHARS - 1] + "…"
