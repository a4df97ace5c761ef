"""
### Charter aftercare

What the operator did by hand once a charter is published (CONTRACT.md section 11):

1. **Crew answers.** For every published charter starting within `crew_confirm_hours` (48 by default), read each
   crew member's answer from ShipCaptainCrew and tell the operations desk (connection `ops_alerts`) once per new
   situation: `crew_declined`, `crew_pending`, then `crew_all_clear` when everyone has accepted.
2. **Retired guest pages.** Once a charter ended more than `guest_page_retention_days` (3) days ago, its guest page
   is replaced at the same address by a neutral notice and invalidated once; nothing publishes it again.

`run_summary` prints what each booking got and fails the run when a booking could not be handled, after all the
others were; the next run tries it again. "Now" is the run's logical date, else the current time, so
`airflow dags test charter_aftercare 2026-12-20T08:00:00+00:00` shows what that hour's run would do.

Configuration: the `charter_pipeline` Variable, the `aws_default`, `scc_api` and (optional) `ops_alerts`
connections (see the README). Hourly by default; `CHARTER_AFTERCARE_SCHEDULE` overrides.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import TriggerRule, dag, get_current_context, task


@task(multiple_outputs=False)
def check_crew_answers() -> dict[str, Any]:
    """Crew answers of the charters starting soon, and the alerts they call for."""
    from charter_pipeline.aftercare import tasks

    return tasks.crew_answers_task(get_current_context())


@task(multiple_outputs=False)
def retire_guest_pages() -> dict[str, Any]:
    """Neutral notices in place of the guest pages of charters that ended days ago."""
    from charter_pipeline.aftercare import tasks

    return tasks.retire_pages_task(get_current_context())


@task(multiple_outputs=False, trigger_rule=TriggerRule.ALL_DONE, retries=0)
def run_summary() -> dict[str, Any]:
    """What each booking got this run; red when any could not be handled."""
    from charter_pipeline.aftercare import tasks

    ti = get_current_context()["ti"]
    # Pulled by hand, not passed as arguments: the summary must run even when a task before it failed.
    crew = ti.xcom_pull(task_ids="check_crew_answers")
    pages = ti.xcom_pull(task_ids="retire_guest_pages")
    return tasks.summary_task(crew, pages)


@dag(
    dag_id="charter_aftercare",
    schedule=os.environ.get("CHARTER_AFTERCARE_SCHEDULE") or "@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "charter-ops",
        # Per-booking failures are reported by run_summary and retried by the next hourly run; a task retry
        # is for the task itself failing (the ledger unreachable), when trying again soon can help.
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "execution_timeout": timedelta(minutes=20),
    },
    tags=["charters", "aftercare"],
    doc_md=__doc__,
)
def charter_aftercare() -> None:
    [check_crew_answers(), retire_guest_pages()] >> run_summary()


charter_aftercare()
