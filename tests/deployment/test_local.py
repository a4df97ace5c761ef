"""The embedded topology of ``make run``: LocalExecutor on SQLite, the four components as separate processes, with
``make run``'s parallelism (4). Its task instances must really run side by side, and nothing listens beyond
loopback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from benchmarks.bookings import csv_bytes, upcoming_charters
from sandbox.topology import DAG_ID, Topology
from tests.deployment.conftest import require_system_deps, today, when

BOOKINGS = 4
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    require_system_deps()
    home = tmp_path_factory.mktemp("local-topology")
    # sandbox/run.py gives `airflow standalone` AIRFLOW__CORE__PARALLELISM=4: the same here.
    settings = {"AIRFLOW__CORE__PARALLELISM": "4"}
    with Topology("local", home=home, poll_schedule="0 0 1 1 *", settings=settings) as running:
        yield running


def _booking_task_instances(topology: Topology, *, timeout: float) -> list[dict[str, Any]]:
    """The mapped task instances of the first run that had bookings, once every run has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = topology.api.runs(DAG_ID)
        if runs and all(run["state"] not in ("queued", "running") for run in runs):
            for run in runs:
                instances = topology.api.task_instances(DAG_ID, run["dag_run_id"])
                mapped = [ti for ti in instances if ti["map_index"] >= 0]
                if mapped:
                    assert run["state"] == "success", run
                    return mapped
        time.sleep(3)
    raise AssertionError(f"no run published the export within {timeout:.0f} s")


def test_local_executor_runs_a_bookings_tasks_at_the_same_time_on_loopback_only(topology: Topology) -> None:
    rows = upcoming_charters(BOOKINGS, today=today(), first_number=300)
    topology.put_exports({f"boatsetter-local-{today().isoformat()}.csv": csv_bytes(rows)})
    topology.api.unpause(DAG_ID)  # the latest yearly slot may start a run at once; if not, a manual run polls
    topology.api.trigger(DAG_ID)
    instances = _booking_task_instances(topology, timeout=600)
    assert len(instances) == 6 * BOOKINGS
    assert {ti["state"] for ti in instances} == {"success"}

    spans: list[tuple[datetime, datetime]] = sorted(
        (when(ti["start_date"]), when(ti["end_date"])) for ti in instances if ti["start_date"] and ti["end_date"]
    )
    most_at_once = max(sum(1 for start, end in spans if start <= moment < end) for moment, _ in spans)
    assert most_at_once >= 2, "the task instances ran one after the other"
    assert {address for address, _, _ in topology.listeners()} == {"127.0.0.1"}
