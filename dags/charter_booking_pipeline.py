"""
### Charter booking pipeline

Publishes every Boatsetter charter booking, exactly once, to the four places it must exist:

1. **JADA calendar** entry with the financials (crew cost, captain cost, port fee, net);
2. **ShipCaptainCrew** event for the crew (who get a magic-link e-mail), then a DynamoDB **scrub** so crew never
   see money in it;
3. the **guest page** at `https://queenofsandiego.com/g/<SESSION_ID>` (S3);
4. a **CloudFront invalidation**, so the guest sees the page at once.

**How a run goes.** `collect_bookings` reads the export files not read before (or, on a manual trigger with a
`booking`, just that booking), quarantines bad rows and decides per booking: publish, update, cancel, or nothing.
Each booking that needs work gets one mapped `charter` group (labelled with its booking id and guest first name).
`run_summary` then prints a table of what happened and fails the run if any booking failed, after every other
booking has finished.

**Safe to rerun.** Clearing any task repeats nothing already done: the ledger (DynamoDB) remembers each step, and
every create first looks the booking up at the service. Failed bookings are retried by the next poll.

**Manual trigger.** Fill in the form's "Booking to process now" fields, or trigger with config
`{"booking": {...}}` (fields as in the export, snake_case), to process one booking now. Both are checked by the
same rules; a refusal names the field, and the run's "Task Instances" tab shows it beside `collect_bookings`.
A manual booking without `updated_at` is the desk's newest word (it corrects an exported booking); the line beside
`run_summary` says what became of it. With neither, a manual run polls like a scheduled one.

Configuration: the `charter_pipeline` Variable and the `aws_default`, `jada_dashboard`, `scc_api` connections
(see the README).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, TriggerRule, dag, get_current_context, task, task_group

from charter_pipeline.exports_queue import poll_schedule
from charter_pipeline.trigger_form import TRIGGER_PARAMS

# Each task of a booking's group sets this in its context; the UI shows it as the map index label.
BOOKING_LABEL = "{{ charter_label }}"
# The line collect_bookings and run_summary leave on the run's page, refusals included (publishing/tasks.py
# show_on_run): the Task SDK cannot set a run's note, but a task's rendered map index is shown beside it.
RUN_NOTE = "{{ charter_note | default('') }}"


def _labelled(item: dict[str, Any]) -> None:
    get_current_context()["charter_label"] = item["label"]  # type: ignore[typeddict-unknown-key]


@task(map_index_template=RUN_NOTE)
def collect_bookings() -> list[dict[str, Any]]:
    """Poll the exports (or take the manual booking) and return the work for the mapped groups."""
    from charter_pipeline import exports_queue
    from charter_pipeline.publishing import tasks

    context = get_current_context()
    # A run the exports queue started says which exports woke it (logged only: the poll below decides everything).
    exports_queue.log_wake_up(context["triggering_asset_events"])
    # run_after, not the clock: a cleared collect_bookings of an old manual run keeps its booking's place in time.
    result = tasks.collect_task(context["params"], context["dag_run"].run_after)
    # The counts go to the summary under their own key: a mapped group can only expand over the return value.
    context["ti"].xcom_push(key="intake", value=result["intake"])
    return result["work"]


@task(multiple_outputs=False, map_index_template=BOOKING_LABEL)
def financials(item: dict[str, Any]) -> dict[str, str]:
    """Crew cost, captain cost, port fee and net revenue, from the rate card."""
    from charter_pipeline.publishing import tasks

    _labelled(item)
    return tasks.booking_task(item, "financials")


@task(multiple_outputs=False, map_index_template=BOOKING_LABEL, max_active_tis_per_dag=4)
def calendar_entry(item: dict[str, Any]) -> dict[str, Any]:
    """Create or update the JADA calendar entry (looked up by external id first)."""
    from charter_pipeline.publishing import tasks

    _labelled(item)
    return tasks.booking_task(item, "calendar")


@task(multiple_outputs=False, map_index_template=BOOKING_LABEL, max_active_tis_per_dag=4)
def scc_event(item: dict[str, Any]) -> dict[str, Any]:
    """Create, update or cancel the ShipCaptainCrew event (SCC e-mails the crew)."""
    from charter_pipeline.publishing import tasks

    _labelled(item)
    return tasks.booking_task(item, "scc_event")


@task(multiple_outputs=False, map_index_template=BOOKING_LABEL, max_active_tis_per_dag=4)
def scrub_notes(item: dict[str, Any]) -> dict[str, Any]:
    """Remove every money attribute and money line SCC stored with the event."""
    from charter_pipeline.publishing import tasks

    _labelled(item)
    return tasks.booking_task(item, "scrub")


@task(multiple_outputs=False, map_index_template=BOOKING_LABEL, max_active_tis_per_dag=8)
def guest_page(item: dict[str, Any]) -> dict[str, Any]:
    """Render the guest page (or its cancellation notice) and upload it to the guest bucket."""
    from charter_pipeline.publishing import tasks

    _labelled(item)
    return tasks.booking_task(item, "guest_page")


@task(multiple_outputs=False, map_index_template=BOOKING_LABEL, max_active_tis_per_dag=2)
def cloudfront_invalidation(item: dict[str, Any]) -> dict[str, Any]:
    """Invalidate the guest page's two paths so the guest sees it at once."""
    from charter_pipeline.publishing import tasks

    _labelled(item)
    return tasks.booking_task(item, "invalidation")


@task_group(group_id="charter")
def charter(item: dict[str, Any]) -> None:
    """One booking, three independent branches: financials -> calendar entry; SCC event -> scrub; guest page ->
    invalidation. Shallow on purpose: the branches run side by side, and an empty poll skips the group at once."""
    financials(item) >> calendar_entry(item)
    scc_event(item) >> scrub_notes(item)
    guest_page(item) >> cloudfront_invalidation(item)


@task(multiple_outputs=False, trigger_rule=TriggerRule.ALL_DONE, retries=0, map_index_template=RUN_NOTE)
def run_summary() -> dict[str, Any]:
    """The run's table: published, updated, cancelled, unchanged, recorded only, quarantined, failed."""
    from charter_pipeline.publishing import tasks

    ti = get_current_context()["ti"]
    # Pulled by hand, not passed as arguments: this task must run even when collect_bookings failed.
    intake = ti.xcom_pull(task_ids="collect_bookings", key="intake")
    work = ti.xcom_pull(task_ids="collect_bookings")
    return tasks.summary_task(intake, work)


@dag(
    dag_id="charter_booking_pipeline",
    # CHARTER_POLL_SCHEDULE, or every 15 minutes; with CHARTER_EXPORTS_QUEUE_URL also a message on that queue.
    schedule=poll_schedule(),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "charter-ops",
        "retries": 2,
        "retry_delay": timedelta(seconds=10),
        # A multiplier in Airflow 3 (True counts as 1: a constant delay); docs/RETRIES.md counts the tries.
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=5),
        "execution_timeout": timedelta(minutes=20),
    },
    params={name: Param(None, **schema) for name, schema in TRIGGER_PARAMS.items()},
    tags=["charters", "boatsetter", "jada"],
    doc_md=__doc__,
)
def charter_booking_pipeline() -> None:
    work = collect_bookings()
    charters = charter.expand(item=work)
    work >> charters >> run_summary()


charter_booking_pipeline()
