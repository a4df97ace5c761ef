"""The charter_aftercare DAG's surface (CONTRACT.md section 11): hourly, one run at a time, no catch-up.

The real dags folder is parsed once, offline, by test_dag_integrity.py (its ``real_dags`` fixture); here the DAG
file is loaded in this process, which is enough to see what its schedule reads from the environment.
"""

from __future__ import annotations

import runpy

import pytest

from tests.dags.integrity import REPO

AFTERCARE_FILE = REPO / "dags" / "charter_aftercare.py"


def aftercare_dag(monkeypatch: pytest.MonkeyPatch, schedule: str | None) -> object:
    if schedule is None:
        monkeypatch.delenv("CHARTER_AFTERCARE_SCHEDULE", raising=False)
    else:
        monkeypatch.setenv("CHARTER_AFTERCARE_SCHEDULE", schedule)
    return runpy.run_path(str(AFTERCARE_FILE))["charter_aftercare"]()


@pytest.mark.parametrize(("schedule", "expected"), [(None, "@hourly"), ("", "@hourly"), ("15 * * * *", "15 * * * *")])
def test_hourly_unless_charter_aftercare_schedule_says_otherwise(
    monkeypatch: pytest.MonkeyPatch, schedule: str | None, expected: str
) -> None:
    dag = aftercare_dag(monkeypatch, schedule)
    assert dag.schedule == expected  # type: ignore[attr-defined]
    assert dag.catchup is False  # type: ignore[attr-defined]
    assert dag.max_active_runs == 1  # type: ignore[attr-defined]
    assert set(dag.task_ids) == {"check_crew_answers", "retire_guest_pages", "run_summary"}  # type: ignore[attr-defined]
