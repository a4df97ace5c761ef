"""The desk hears about a stuck booking once, then once more when it is published (CONTRACT.md section 15).

Whole ``airflow dags test charter_booking_pipeline`` runs against the sandbox: ShipCaptainCrew answers 503 to
everything for three polls (every retry spent each time), then comes back.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.run import airflow_env
from tests.e2e.harness import AIRFLOW, DAG_ID, REPO, Deployment, RunResult, days_ahead, row

pytestmark = pytest.mark.e2e


def poll(deployment: Deployment) -> RunResult:
    """One scheduled-like run, with Airflow's task retry delay capped at a second ([core] max_task_retry_delay
    caps every task's own delay): the DAG's 10 s, 20 s backoff would only make the test wait, and the retries still
    happen, each one answered 503 again."""
    env = airflow_env(
        deployment.airflow_home,
        connections=deployment.stack.connections_env(),
        variable=deployment.variable,
        extra={"AIRFLOW__CORE__MAX_TASK_RETRY_DELAY": "1"},
    )
    started = time.monotonic()
    done = subprocess.run(
        [AIRFLOW, "dags", "test", DAG_ID], env=env, cwd=REPO, capture_output=True, text=True, timeout=600, check=False
    )
    return RunResult(done.returncode, done.stdout + done.stderr, time.monotonic() - started)


def alerts(deployment: Deployment, booking_id: str) -> list[dict[str, Any]]:
    """Every alert the receiver got for the booking, repeats included."""
    return [a for a in deployment.stack.alerts.received() if a["booking_id"] == booking_id]


def test_a_booking_stuck_for_three_polls_alerts_the_desk_once_and_once_more_when_published(
    deployment: Callable[..., Deployment],
) -> None:
    pipeline = deployment()
    pipeline.drop([row("DESK-1", trip_date=days_ahead(12), start_time="09:30")])
    scc = pipeline.stack.scc
    scc.inject(status=503, count=None)  # SCC down: every call answers 503
    stuck_runs, alerts_after = [], []
    for _ in range(3):
        stuck_runs.append(poll(pipeline))
        alerts_after.append(len(alerts(pipeline, "DESK-1")))
    calls_while_down = len(scc.logged())
    after_stuck = alerts(pipeline, "DESK-1")
    scc.clear_faults()
    back = poll(pipeline)

    for number, run in enumerate(stuck_runs, 1):
        assert not run.ok, f"poll {number} should be red while SCC is down"
    assert back.ok, back.output[-4000:]
    assert calls_while_down >= 3 * 3, "each poll spent every try of the SCC step"
    assert "up_for_retry" in stuck_runs[0].output
    assert alerts_after == [1, 1, 1], "the first stuck poll alerts; the two failing the same way send nothing"
    [failed] = after_stuck
    assert failed["kind"] == "publish_failed"
    assert "DESK-1" in failed["text"]
    assert "ShipCaptainCrew event: the service unavailable" in failed["text"]
    assert "503" in failed["text"], "what the service answered"
    assert [a["kind"] for a in alerts(pipeline, "DESK-1")] == ["publish_failed", "publish_recovered"]
    assert not any(a["repeat"] for a in pipeline.stack.alerts.received()), "nothing sent twice"
    [recovered] = [a for a in alerts(pipeline, "DESK-1") if a["kind"] == "publish_recovered"]
    assert "DESK-1" in recovered["text"]
    assert len(pipeline.scc_events("DESK-1")) == 1
    assert pipeline.ledger("DESK-1")["stuck_alert_open"] == ""
