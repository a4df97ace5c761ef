"""
### Charter drift report

Once a day, checks every published charter that has not ended against what the pipeline last sent:

1. the **JADA calendar** entry: still there, status, start, end, party size and money fields;
2. the **ShipCaptainCrew** event: still there, not cancelled, start, end and crew names; and its DynamoDB item,
   which must hold no money;
3. the **guest page** in the bucket: still there, with the content last published.

**It repairs only what cannot surprise anyone:** an SCC item that holds money again is scrubbed again, and a
missing or replaced guest page is uploaded again as published, with a fresh CloudFront invalidation.

**Everything else is reported, never overwritten:** an entry or event edited or deleted at the service is listed
in `drift_summary`'s table and sent to the operations desk as one `drift` alert per booking per distinct set of
differences (connection `ops_alerts`). It sends no POST or PATCH to JADA or SCC.

"Now" is the run's logical date, else the current time: `airflow dags test charter_reconcile <instant>` shows
what that instant's run would find. A booking with a newer snapshot not yet published is pending work, not drift.
`CHARTER_RECONCILE_SCHEDULE` overrides the daily schedule.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import TriggerRule, dag, get_current_context, task


@task(multiple_outputs=False)
def check_bookings() -> dict[str, Any]:
    """Compare every published charter not yet ended; repair the scrub and the page; alert the rest."""
    from charter_pipeline.reconcile import tasks

    return tasks.check_task(get_current_context())


@task(multiple_outputs=False, trigger_rule=TriggerRule.ALL_DONE, retries=0)
def drift_summary() -> dict[str, Any]:
    """The run's table: in step, repaired, drift, skipped, error; kept as the last drift report."""
    from charter_pipeline.reconcile import tasks

    # Pulled by hand, not passed as an argument: this task must run even when check_bookings failed.
    report = get_current_context()["ti"].xcom_pull(task_ids="check_bookings")
    return tasks.summary_task(report)


@dag(
    dag_id="charter_reconcile",
    schedule=os.environ.get("CHARTER_RECONCILE_SCHEDULE") or "@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "charter-ops",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        # A multiplier in Airflow 3 (True counts as 1: a constant delay); docs/RETRIES.md counts the tries.
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(minutes=30),
    },
    tags=["charters", "jada", "drift"],
    doc_md=__doc__,
)
def charter_reconcile() -> None:
    check_bookings() >> drift_summary()


charter_reconcile()
