"""sandbox/run.py's choices that ``make run`` prints or keeps: which run read the samples, a clean Airflow home, and
one stack for either executor (``make run``, ``make run-celery``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sandbox import run
from sandbox.run import local_topology, reset_airflow_home, start_first_poll
from sandbox.topology import LOCAL_SETTINGS


@dataclass
class FakeApi:
    """Airflow as seen through sandbox.run.AirflowApi: unpausing may start a scheduled run after some looks."""

    scheduled_after_looks: int | None = 1
    calls: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    looks: int = 0

    def run_ids(self, dag_id: str) -> list[str]:
        self.calls.append("run_ids")
        if "unpause" in self.calls:
            self.looks += 1
            if self.scheduled_after_looks is not None and self.looks > self.scheduled_after_looks and not self.runs:
                self.runs.append("scheduled__2026-11-30T03:30:00+00:00")
        return list(self.runs)

    def unpause(self, dag_id: str) -> None:
        self.calls.append("unpause")

    def trigger(self, dag_id: str) -> str:
        self.calls.append("trigger")
        self.runs.append("manual__2026-11-30T03:31:00+00:00")
        return self.runs[-1]


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run.time, "sleep", lambda seconds: None)


def test_the_samples_go_in_before_unpausing_and_the_scheduled_run_is_the_one_shown() -> None:
    api = FakeApi(scheduled_after_looks=2)
    shown = start_first_poll(api, lambda: api.calls.append("samples"))  # type: ignore[arg-type]

    assert shown == ("scheduled__2026-11-30T03:30:00+00:00", "the scheduled poll")
    assert api.calls.index("samples") < api.calls.index("unpause")
    assert "trigger" not in api.calls, "a triggered run would queue behind the scheduled one and find nothing new"


def test_a_run_is_triggered_only_when_no_scheduled_poll_starts() -> None:
    api = FakeApi(scheduled_after_looks=None)
    shown = start_first_poll(api, lambda: api.calls.append("samples"), wait=0.05)  # type: ignore[arg-type]
    assert shown == ("manual__2026-11-30T03:31:00+00:00", "triggered, since no run started by itself")

    quiet = FakeApi(scheduled_after_looks=None)
    assert start_first_poll(quiet, lambda: None, trigger=False, wait=0.05) == ("", "")  # type: ignore[arg-type]
    assert "trigger" not in quiet.calls


def test_runs_from_before_the_unpause_are_not_taken_for_the_samples_run() -> None:
    api = FakeApi(scheduled_after_looks=1)
    api.runs.append("manual__2026-11-29T10:00:00+00:00")  # an older run already listed
    shown: Any = start_first_poll(api, lambda: None, wait=0.05)  # type: ignore[arg-type]
    assert shown[0] == "manual__2026-11-30T03:31:00+00:00"


def test_a_second_make_run_gets_an_empty_airflow_home(tmp_path: Path) -> None:
    home = tmp_path / ".airflow"
    (home / "logs" / "dag_id=charter_booking_pipeline").mkdir(parents=True)
    (home / "airflow.db").write_bytes(b"old runs")
    reset_airflow_home(home)
    assert home.is_dir()
    assert list(home.iterdir()) == []
    reset_airflow_home(tmp_path / "new")
    assert (tmp_path / "new").is_dir()


def test_a_run_the_exports_queue_watcher_started_is_shown_as_such() -> None:
    api = FakeApi(scheduled_after_looks=None)
    watcher_run = "asset_triggered__2026-11-30T03:30:05+00:00"
    shown = start_first_poll(api, lambda: api.runs.append(watcher_run))  # type: ignore[arg-type]
    assert shown == (watcher_run, "started by the exports queue watcher")


def test_make_run_and_make_run_celery_are_one_stack_with_either_executor(tmp_path: Path) -> None:
    local, celery = local_topology("local"), local_topology("celery")
    assert (local.executor, celery.executor) == ("local", "celery")
    assert local.local == celery.local
    assert local.local is not None
    assert local.local.stand_in_ports == run.PORTS
    assert (local.local.preview_port, local.local.inspector_port) == (run.PREVIEW_PORT, run.INSPECTOR_PORT)
    assert local.local.state_file == run.STATE_FILE
    assert local.exports_queue_url == celery.exports_queue_url != ""
    for top in (local, celery):
        assert top.api_port == run.AIRFLOW_PORT
        assert top.poll_schedule == run.LOCAL_POLL_SCHEDULE
        assert top.admin == run.LOCAL_LOGIN
        assert top.home == run.AIRFLOW_HOME
        assert top.overrides["CHARTER_RECONCILE_SCHEDULE"] == run.LOCAL_RECONCILE_SCHEDULE
    only_in_local = set(local.overrides.items()) ^ set(celery.overrides.items())
    assert only_in_local == {("AIRFLOW__CORE__PARALLELISM", "4")}


@pytest.mark.parametrize("executor", ["local", "celery"])
def test_the_stacks_components_get_no_connection_or_variable_and_a_patient_execution_api_client(
    executor: str, tmp_path: Path
) -> None:
    from sandbox.topology import Topology

    top = Topology(executor, home=tmp_path)  # type: ignore[arg-type]
    top.variable = {"guest_bucket": "b"}
    values = {"AIRFLOW_API_HOST": "127.0.0.1:18080", "POSTGRES_PASSWORD": "pw", "POSTGRES_HOST": "127.0.0.1:1",
              "REDIS_HOST": "127.0.0.1:2"}  # fmt: skip
    env = top.component_environment(values)
    assert not [name for name in env if name.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))]
    assert float(env["AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT"]) >= 30
    assert LOCAL_SETTINGS.items() <= env.items()
