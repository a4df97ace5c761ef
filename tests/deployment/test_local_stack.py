"""The local stack as ``make run`` starts it (sandbox/run.py: a Topology with ``LocalParts``), on free ports:
its connections and Variable live in the metadata database, where the UI lists and edits them, and
``make doctor`` from a second shell checks the running stack (issue 22 point 6).

- No component has a connection or the Variable in its environment (which would win over the database); the
  REST API (what the UI's Admin -> Connections page reads) lists them; guest links point at the local preview.
- The doctor in another process, with nothing of the stack in its environment, finds the stack through its state
  file, checks it, and never creates ``~/airflow`` (with no stack running: tests/staff_page/test_doctor.py).
- A connection edited through the REST API (the UI's own calls) is what the next run and the doctor use.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.bootstrap import REPO
from sandbox.topology import DAG_ID, LocalParts, Topology, session_pids
from tests.e2e.harness import csv_bytes, row

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

NEVER = "0 0 1 1 *"
CONNECTIONS = ("aws_default", "jada_dashboard", "scc_api", "ops_alerts")
ROTATED = "rotated-but-wrong-dashboard-token"


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    home = tmp_path_factory.mktemp("local-stack")
    local = LocalParts(stand_in_ports={}, state_file=home / "local-stack.json")
    settings = {
        "AIRFLOW__CORE__PARALLELISM": "4",
        "CHARTER_AFTERCARE_SCHEDULE": NEVER,
        "CHARTER_RECONCILE_SCHEDULE": NEVER,
    }
    with Topology("local", home=home / "airflow", poll_schedule=NEVER, settings=settings, local=local) as started:
        started.api.unpause(DAG_ID)
        yield started


def second_shell(command: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    """``command`` as a person's other shell runs it: nothing of the stack's Airflow in its environment, and a
    home of its own (so a ``~/airflow`` it created would show)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AIRFLOW", "_AIRFLOW", "CHARTER"))}
    env["HOME"] = str(home)
    return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)


def doctor(top: Topology, home: Path) -> subprocess.CompletedProcess[str]:
    assert top.local is not None
    assert top.local.state_file is not None
    return second_shell([sys.executable, "-m", "sandbox.doctor", "--state-file", str(top.local.state_file)], home)


def poll(top: Topology) -> str:
    return top.api.wait_for_run(DAG_ID, top.api.trigger(DAG_ID), timeout=300)


def test_connections_and_the_variable_are_in_the_database_not_in_any_components_environment(
    topology: Topology,
) -> None:
    listed = topology.api.call("GET", "connections", params={"limit": 100})["connections"]
    assert {conn["connection_id"] for conn in listed} >= set(CONNECTIONS)
    jada = topology.api.call("GET", "connections/jada_dashboard")
    assert jada["host"] == topology.stack.jada_url
    variable = topology.api.call("GET", "variables/charter_pipeline")
    assert f'"guest_base_url": "{topology.preview_url}/g/"' in variable["value"]

    environments = {}
    for name, process in topology.processes.items():
        for pid in session_pids(process.pid):
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            environments[f"{name} ({pid})"] = [entry.partition(b"=")[0].decode() for entry in environ]
    assert environments
    overriding = {
        where: [key for key in keys if key.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))]
        for where, keys in environments.items()
    }
    assert not any(overriding.values()), overriding


def test_make_doctor_from_a_second_shell_checks_the_running_stack(topology: Topology, tmp_path: Path) -> None:
    checked = doctor(topology, tmp_path)
    lines = checked.stdout.splitlines()
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert lines[0].startswith("make doctor: checking the running local stack (local executor")
    assert lines[1] == "ok    Variable charter_pipeline: valid (from the metadata database)"
    assert lines[-1] == "every check passed"
    assert "Traceback" not in checked.stderr
    assert not (tmp_path / "airflow").exists()


def test_a_connection_edited_through_the_api_is_used_by_the_next_run_and_the_doctor(
    topology: Topology, tmp_path: Path
) -> None:
    def set_dashboard_token(token: str) -> None:
        body: dict[str, Any] = {"connection_id": "jada_dashboard", "conn_type": "http", "password": token}
        topology.api.call("PATCH", "connections/jada_dashboard", params={"update_mask": "password"}, json=body)

    external = "boatsetter:ROTATE-1"
    set_dashboard_token(ROTATED)
    topology.put_exports({"rotate.csv": csv_bytes([row("ROTATE-1")])})
    assert poll(topology) == "failed"
    assert topology.stack.jada.entries(external) == []
    refused = doctor(topology, tmp_path)
    assert refused.returncode == 1
    [jada] = [line for line in refused.stdout.splitlines() if line.startswith("FAIL  jada_dashboard:")]
    assert "refused the dashboard token" in jada
    assert ROTATED not in refused.stdout + refused.stderr

    set_dashboard_token(topology.stack.dashboard_token)
    assert poll(topology) == "success"  # the failed booking is retried by the next poll, with the edited key
    assert len(topology.stack.jada.entries(external)) == 1
    assert doctor(topology, tmp_path).returncode == 0
