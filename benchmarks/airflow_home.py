"""Airflow in a fresh, private ``AIRFLOW_HOME``, run as the operator and the acceptance checks run it.

Every Airflow command runs in a subprocess with the deployment the contract describes (CONTRACT.md section 1):
``dags_folder`` is the repo's ``dags/``, ``plugins_folder`` its ``plugins/``, connections and the Variable come
from the environment, nothing on ``PYTHONPATH``. Nothing the benchmark process imported leaks in.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DAGS_FOLDER = REPO / "dags"
PLUGINS_FOLDER = REPO / "plugins"
AIRFLOW = Path(sys.executable).with_name("airflow")
PIPELINE_DAG_ID = "charter_booking_pipeline"
TRIVIAL_DAG_ID = "benchmark_trivial"

# The least a DAG can be: one task that does nothing. The baseline for parsing and for `airflow dags test`.
TRIVIAL_DAG = '''"""One task that does nothing: the baseline the benchmarks compare the pipeline's DAG with."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task


@dag(dag_id="benchmark_trivial", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def benchmark_trivial() -> None:
    @task
    def nothing() -> None:
        return None

    nothing()


benchmark_trivial()
'''

_RUN_STATE = re.compile(r"DagRun Finished: dag_id=(\S+?),.*?\bstate=(\w+)")
_TASK_EDGE = re.compile(r"^(\S+) \[\w+\s*\] \[DAG TEST\] (starting|end task) task_id=(\S+) map_index=(-?\d+)", re.M)
# dag.test() sleeps a second whenever no task is ready (say, while a skip spreads through an empty mapped group).
_IDLE_LOOP = "No tasks to run"


def write_trivial_dag(folder: Path) -> Path:
    """A dags folder holding only the trivial DAG; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "benchmark_trivial.py").write_text(TRIVIAL_DAG)
    return folder


class AirflowFailed(RuntimeError):
    """An Airflow command the benchmark relies on failed. The message holds the output's tail, secrets redacted."""


@dataclass(frozen=True)
class AirflowRun:
    """One finished Airflow command: its wall time from outside (start-up included), exit code and output."""

    seconds: float
    returncode: int
    output: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    cpu: float = 0.0  # user + system time of the Airflow process: moves little when others load the machine

    @property
    def run_state(self) -> str:
        """The DAG run's final state as ``airflow dags test`` logs it, or "" when no run finished."""
        found = _RUN_STATE.findall(self.output)
        return found[-1][1] if found else ""

    def timeline(self) -> Timeline:
        """Where the run's wall time went, from the task start/end lines ``airflow dags test`` logs."""
        spans: list[TaskSpan] = []
        open_tasks: dict[tuple[str, str], datetime] = {}
        for stamp, edge, task_id, map_index in _TASK_EDGE.findall(self.output):
            moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            if edge == "starting":
                open_tasks[(task_id, map_index)] = moment
            elif (began := open_tasks.pop((task_id, map_index), None)) is not None:
                spans.append(TaskSpan(task_id, int(map_index), began, moment))
        ended = self.started_at + timedelta(seconds=self.seconds)
        return Timeline(self.started_at, ended, spans, self.output.count(_IDLE_LOOP))


@dataclass(frozen=True)
class TaskSpan:
    task_id: str
    map_index: int
    started: datetime
    ended: datetime

    @property
    def seconds(self) -> float:
        return (self.ended - self.started).total_seconds()


@dataclass(frozen=True)
class Timeline:
    """One ``airflow dags test`` run cut into start-up, task work, waiting between tasks, and shutdown."""

    started: datetime
    ended: datetime
    spans: list[TaskSpan]
    idle_loops: int

    @property
    def startup(self) -> float:
        """Launch to the first task: interpreter, imports, parsing, the in-process Execution API."""
        first = min((s.started for s in self.spans), default=self.ended)
        return (first - self.started).total_seconds()

    @property
    def in_tasks(self) -> float:
        return sum(span.seconds for span in self.spans)

    @property
    def shutdown(self) -> float:
        last = max((s.ended for s in self.spans), default=self.ended)
        return max(0.0, (self.ended - last).total_seconds())

    @property
    def between_tasks(self) -> float:
        return max(0.0, (self.ended - self.started).total_seconds() - self.startup - self.in_tasks - self.shutdown)

    def by_task(self) -> dict[str, tuple[int, float]]:
        """Task id -> (task instances, seconds), slowest first."""
        totals: dict[str, tuple[int, float]] = {}
        for span in self.spans:
            count, seconds = totals.get(span.task_id, (0, 0.0))
            totals[span.task_id] = (count + 1, seconds + span.seconds)
        return dict(sorted(totals.items(), key=lambda item: -item[1][1]))

    def summary(self) -> str:
        return (
            f"start-up to the first task {self.startup:.1f} s, "
            f"{len(self.spans)} task instance(s) {self.in_tasks:.1f} s, "
            f"between tasks {self.between_tasks:.1f} s ({self.idle_loops} idle one-second loop(s) of dag.test), "
            f"shutdown {self.shutdown:.1f} s"
        )


class AirflowHome:
    """A private ``AIRFLOW_HOME`` under ``root``: migrated once, then used by every command of one benchmark.

    ``env`` adds the stack's connections (``AIRFLOW_CONN_*``) and the Variable (``AIRFLOW_VAR_CHARTER_PIPELINE``).
    ``secrets`` are values that must never be shown: they are cut out of any output an error message quotes.
    """

    def __init__(self, root: Path, *, env: Mapping[str, str] | None = None, secrets: Iterable[str] = ()) -> None:
        self.root = root
        self.home = root / "airflow-home"
        self.extra_env = dict(env or {})
        self.secrets = [s for s in secrets if s]

    def environ(self, *, dags_folder: Path = DAGS_FOLDER) -> dict[str, str]:
        """The subprocess environment: the caller's, minus every Airflow, AWS-profile and PYTHONPATH setting."""
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("AIRFLOW") and name not in ("PYTHONPATH", "AWS_PROFILE", "AWS_SESSION_TOKEN")
        }
        env.update(
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__DAGS_FOLDER=str(dags_folder),
            AIRFLOW__CORE__PLUGINS_FOLDER=str(PLUGINS_FOLDER),
            AWS_DEFAULT_REGION=env.get("AWS_DEFAULT_REGION", "us-east-1"),
        )
        env.update(self.extra_env)
        return env

    def with_env(self, **extra: str) -> AirflowHome:
        """The same home with more environment (say, the Variable once the stack knows its distribution id)."""
        return AirflowHome(self.root, env={**self.extra_env, **extra}, secrets=self.secrets)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def run(self, *args: str, dags_folder: Path = DAGS_FOLDER, timeout: float = 900) -> AirflowRun:
        """``airflow <args>``, timed from outside: start-up and imports count, as they do for the operator."""
        launched = datetime.now(UTC)
        # One Airflow process at a time, so the children's usage grows by exactly this one's.
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [str(AIRFLOW), *args],
            env=self.environ(dags_folder=dags_folder),
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return AirflowRun(seconds, done.returncode, done.stdout, launched, cpu)

    def migrate(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.expect_success(self.run("db", "migrate"), "airflow db migrate")

    def dags_test(
        self, dag_id: str = PIPELINE_DAG_ID, *, dags_folder: Path = DAGS_FOLDER, conf: Mapping[str, Any] | None = None
    ) -> AirflowRun:
        """One ``airflow dags test`` run, which must finish with the DAG run in state success."""
        args = ["dags", "test", dag_id]
        if conf is not None:
            args += ["--conf", json.dumps(conf)]
        result = self.run(*args, dags_folder=dags_folder)
        self.expect_success(result, f"airflow dags test {dag_id}")
        if result.run_state != "success":
            raise AirflowFailed(
                f"airflow dags test {dag_id}: the DAG run ended {result.run_state or 'without a state'}"
                f"\n{self.tail(result.output)}"
            )
        return result

    def expect_success(self, result: AirflowRun, what: str) -> None:
        if result.returncode != 0:
            raise AirflowFailed(f"{what} exited with {result.returncode}\n{self.tail(result.output)}")

    def tail(self, output: str, lines: int = 25) -> str:
        return self.redact("\n".join(output.splitlines()[-lines:]))
