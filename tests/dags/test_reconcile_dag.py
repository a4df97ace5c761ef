"""charter_reconcile as parsed offline: daily by default, one run at a time, CHARTER_RECONCILE_SCHEDULE overrides
(CONTRACT.md section 12)."""

from __future__ import annotations

from tests.dags.integrity import REPO, integrity_problems, parse_dags

DAGS = REPO / "dags"
DAG_ID = "charter_reconcile"


def test_reconcile_is_daily_one_run_at_a_time_and_fit_to_run() -> None:
    report = parse_dags(DAGS)
    assert integrity_problems(report) == []
    reconcile = report.dags[DAG_ID]
    assert reconcile.schedule == "@daily"
    assert reconcile.catchup is False
    assert reconcile.max_active_runs == 1
    assert reconcile.task_ids == ["check_bookings", "drift_summary"]


def test_charter_reconcile_schedule_overrides_the_schedule() -> None:
    report = parse_dags(DAGS, env={"CHARTER_RECONCILE_SCHEDULE": "30 5 * * *"})
    assert report.import_errors == {}
    assert report.dags[DAG_ID].schedule == "30 5 * * *"
