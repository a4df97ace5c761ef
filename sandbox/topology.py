"""Airflow's production topology, started natively on this machine: the deployment of docker-compose.yaml without
Docker. Never imported by the pipeline.

API (for tests, benchmarks and ``make run-celery``)::

    from sandbox.topology import Topology

    with Topology(executor="celery", poll_schedule="*/1 * * * *") as top:   # or executor="local"
        top.api_url                  # http://127.0.0.1:<port>  (UI and /api/v2)
        top.api.unpause(DAG_ID)      # RestApi: POST /auth/token once, then Bearer on every call
        run_id = top.api.trigger(DAG_ID, conf={"booking": {...}})           # logical_date null, as Airflow 3 wants
        top.api.wait_for_run(DAG_ID, run_id, timeout=300)                   # -> "success" / "failed"
        top.api.task_instances(DAG_ID, run_id)                              # every page; hostname, start/end, ...
        top.api.clear(DAG_ID, run_id, [["charter.scc_event", 3]], include_downstream=True)   # dry_run false
        top.api.task_log(DAG_ID, run_id, "charter.scc_event", try_number=1, map_index=3)
        top.api.xcom_values(DAG_ID, run_id)                                 # every XCom value of the run
        top.stack                    # sandbox.stack.SandboxStack: jada_url, scc_url, moto_url, aws_url, state()
        top.config, top.variable     # the charter_pipeline Variable the components run with (PipelineConfig, dict)
        top.put_exports()            # the sample exports into the exports bucket
        top.worker_hostnames         # ("charter-worker-1", "charter-worker-2") under Celery, () under local
        top.kill_worker(1)           # SIGKILL worker 1 and every process of its session (a machine dying)
        top.component_log("scheduler")   # what a component wrote to stdout/stderr
        top.listeners()              # (address, port) of every TCP listener the started processes hold
        top.wait("the run", lambda: ..., timeout=60)   # poll until true; fails early when a component exited

    with Topology("local", exports_queue=True) as top:   # CHARTER_EXPORTS_QUEUE_URL: a queue of this start's own
        top.watch_exports()          # bootstrap the queue + bucket notification, unpause, wait for the watcher

What it starts, in order: the sandbox stand-ins (moto with the counting AWS proxy, JADA, SCC: sandbox.stack) and
bootstrap's buckets, tables and CloudFront distribution, as ``make run`` has them, each name made unique per
start (moto keeps its data per process); then for ``executor="celery"`` a private PostgreSQL 15 cluster (run as
the ``postgres`` system user when we are root: it refuses root) and a private redis-server; then ``airflow db
migrate`` and the api-server, scheduler, dag-processor, triggerer and (Celery only) two Celery workers, each in
its own session, each worker under ``unshare --uts`` with its own hostname (when root) so task instances record
which worker ran them. ``executor="local"`` runs the same four components with LocalExecutor on SQLite.

Environment: the Airflow settings of docker-compose.yaml (its ``x-airflow-common`` environment:
``shared_settings``), with the local hosts and ports filled in, plus ``NATIVE_ONLY``; ``executor="local"``
replaces only the executor and the database (SQLite) and drops the Celery settings. Secrets (JWT, Fernet,
Postgres and admin passwords) are generated per start. Every listener is on 127.0.0.1 on a port picked at start;
the components that would run Airflow's log server (which binds every interface) run with ``--skip-serve-logs``:
they share one AIRFLOW_HOME, so the API server reads task logs from disk.

``stop()`` (also ``__exit__``, and any failure inside ``start()``) stops everything started, newest first, each
by its whole session; a second start in the same or a new home starts clean.

The connections and the ``charter_pipeline`` Variable are imported into the metadata database after ``db
migrate`` (as a deployment keeps them: the UI lists and edits them), never put in the components' environment.
With ``local=LocalParts(...)`` it is the stack ``make run`` and ``make run-celery`` start (sandbox/run.py): the
stand-ins on fixed ports with the samples' resource names, the guest-site preview (guest links on it), the
inspector, and a state file for ``make doctor``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import requests

from sandbox.bootstrap import REPO, BootstrapReport, bootstrap, put_plugins_on_path
from sandbox.samples import sample_variable, write_samples
from sandbox.stack import SandboxStack

if TYPE_CHECKING:
    from charter_pipeline.config import PipelineConfig

DAG_ID = "charter_booking_pipeline"
COMPOSE_FILE = REPO / "docker-compose.yaml"
# Settings of the native topology that differ from compose's on purpose: no FAB provider in the lock, so the
# simple auth manager (its login is generated per start); and the worker's own hostname (a UTS namespace of its
# own) rather than a DNS lookup of it.
NATIVE_ONLY = {
    "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
    "AIRFLOW__CORE__HOSTNAME_CALLABLE": "socket.gethostname",
}
PG_BIN = Path("/usr/lib/postgresql/15/bin")
WORKER_COUNT = 2
# Pinned for `make run-celery` only (like `make run`); tests get a random password.
LOCAL_LOGIN = ("admin", "admin")
Executor = Literal["celery", "local"]
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# Settings of the local stack's components (make run, make run-celery, the tests' topologies) beyond compose's.
LOCAL_SETTINGS = {
    # A task runner gives up on a call to the Execution API after this many seconds (default 5), then retries
    # five times within about 30 s. On a busy 2-core machine the API server, on SQLite under LocalExecutor,
    # sometimes takes longer: the first scheduled run's collect_bookings failed once with httpx.ReadTimeout.
    "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
}
# ${NAME}, ${NAME:-default}, ${NAME:?error}, as compose reads them ("$${NAME}" is an escaped dollar).
_REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?])?([^}]*)\}")


@dataclass(frozen=True)
class LocalParts:
    """What ``make run`` / ``make run-celery`` add to a topology for a person at this machine: the stand-ins on
    their fixed ports, the guest-site preview (guest links point at it) and the inspector, the UI's address, and
    ``state_file``, where ``make doctor`` from another shell finds the running stack's Airflow."""

    stand_in_ports: Mapping[str, int]
    preview_port: int = 0
    inspector_port: int = 0
    api_host: str = "127.0.0.1"
    state_file: Path | None = None


# What `make doctor` needs to read the stack's metadata database (and nothing it does not).
_STATE_ENV_PREFIXES = ("AIRFLOW_HOME", "AIRFLOW__DATABASE__", "AIRFLOW__CORE__", "CHARTER_", "AWS_DEFAULT_REGION")


def write_state_file(path: Path, topology: Topology) -> None:
    """Where the running stack's Airflow is, for ``make doctor`` in another shell: this process's pid (the stack
    runs while it lives), the UI's address, and the settings that reach its metadata database (readable by this
    user only: they hold the database password and the Fernet key)."""
    env = {name: value for name, value in topology.env.items() if name.startswith(_STATE_ENV_PREFIXES)}
    state = {"pid": os.getpid(), "executor": topology.executor, "api_url": topology.api_url, "env": env}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")


def read_state_file(path: Path) -> dict[str, Any] | None:
    """The state a running stack wrote at ``path``; None when there is none or its process has gone."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return dict(state)


def shared_settings(values: Mapping[str, str], compose_file: Path = COMPOSE_FILE) -> dict[str, str]:
    """The Airflow settings every container of docker-compose.yaml gets (its ``x-airflow-common`` environment),
    each ``${NAME:?...}`` / ``${NAME:-default}`` filled from ``values`` (else its default), as compose fills them
    from .env. The native topology runs with exactly these, so the two cannot drift.
    """
    import yaml  # type: ignore[import-untyped]

    def fill(match: re.Match[str]) -> str:
        name, kind, rest = match.group(1), match.group(2), match.group(3)
        if name in values:
            return values[name]
        if kind in (":-", "-"):
            return rest or ""
        raise KeyError(f"{compose_file.name}: ${{{name}}} needs a value")

    document = yaml.safe_load(compose_file.read_text(encoding="utf-8"))
    environment: dict[str, Any] = document["x-airflow-common"]["environment"]
    return {name: _REFERENCE.sub(fill, str(value)) for name, value in environment.items()}


def free_port() -> int:
    """A port nothing on 127.0.0.1 listens on now (bound to 0 and read back)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def airflow_bin() -> str:
    """The ``airflow`` script next to the interpreter running us (``.venv/bin/airflow``)."""
    return str(Path(sys.executable).parent / "airflow")


def session_pids(session: int) -> list[int]:
    """Every live process whose session id is ``session`` (task runners start their own process groups in it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            # Field 6 is the session; the command name (field 2) may hold spaces, so split after its ")".
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[3]) == session:
                found.append(int(entry.name))
    return found


def signal_session(session: int, signum: int) -> None:
    for pid in session_pids(session):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def stop_sessions(
    processes: Sequence[subprocess.Popen[bytes]], *, grace: float = 15, signum: int = signal.SIGTERM
) -> None:
    """Signal every process of each leader's session at once, wait up to ``grace`` s, then SIGKILL what is left."""
    for process in processes:
        signal_session(process.pid, signum)
    deadline = time.monotonic() + grace
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
    while time.monotonic() < deadline and any(session_pids(p.pid) for p in processes):
        time.sleep(0.2)
    for process in processes:
        signal_session(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


class RestApi:
    """Airflow's REST API as the staff's tools use it: ``POST /auth/token`` once, then ``Authorization: Bearer``.

    Paths are relative to ``/api/v2``. Run ids hold ``:`` and ``+``: every method quotes them.
    """

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self._token = ""
        self.session = requests.Session()

    def token(self) -> str:
        if not self._token:
            answer = self.session.post(
                f"{self.base_url}/auth/token", json={"username": self.username, "password": self.password}, timeout=30
            )
            answer.raise_for_status()
            self._token = str(answer.json()["access_token"])
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The raw answer (any status) of ``method /api/v2/<path>``."""
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", 60)
        return self.session.request(method, f"{self.base_url}/api/v2/{path.lstrip('/')}", headers=headers, **kwargs)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON of a 2xx answer; anything else raises with the status and body.

        A repeatable call (not a POST) answered 5xx is made again, up to three times: the local stack's SQLite
        answers "Database error" while the scheduler holds its write lock on a busy machine (seen in CI).
        """
        answer = self.request(method, path, **kwargs)
        for pause in (1, 2, 4):
            if method == "POST" or answer.status_code < 500:
                break
            time.sleep(pause)
            answer = self.request(method, path, **kwargs)
        if not answer.ok:
            raise RuntimeError(f"{method} /api/v2/{path}: HTTP {answer.status_code}: {answer.text[:500]}")
        return answer.json() if answer.content else None

    def healthy(self) -> dict[str, str]:
        """Each part's status from ``/api/v2/monitor/health`` (no login needed), e.g. {"scheduler": "healthy"}."""
        answer = self.session.get(f"{self.base_url}/api/v2/monitor/health", timeout=5)
        answer.raise_for_status()
        return {part: str(value.get("status")) for part, value in answer.json().items() if isinstance(value, dict)}

    def dag_known(self, dag_id: str) -> bool:
        return self.request("GET", f"dags/{dag_id}").status_code == 200

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"dags/{dag_id}", json={"is_paused": False})

    def pause(self, dag_id: str) -> None:
        self.call("PATCH", f"dags/{dag_id}", json={"is_paused": True})

    def trigger(
        self, dag_id: str, conf: Mapping[str, Any] | None = None, *, logical_date: datetime | None = None
    ) -> str:
        """A manual run (``logical_date`` null unless given: Airflow 3 requires the key); its run id. It starts
        now whatever its logical date: aftercare and reconcile take that date as their "now"."""
        body: dict[str, Any] = {"logical_date": logical_date.isoformat() if logical_date else None}
        if conf is not None:
            body["conf"] = dict(conf)
        return str(self.call("POST", f"dags/{dag_id}/dagRuns", json=body)["dag_run_id"])

    def run_ids(self, dag_id: str) -> list[str]:
        """Every run id of the DAG, oldest first."""
        return [str(run["dag_run_id"]) for run in self.runs(dag_id)]

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        """Every run of the DAG, oldest first."""
        return self._pages(f"dags/{dag_id}/dagRuns", "dag_runs", order_by="id")

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.call("GET", f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")
        return found

    def wait_for_run(self, dag_id: str, run_id: str, *, timeout: float) -> str:
        """Wait until the run leaves queued/running; its final state. Raises on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = str(self.run(dag_id, run_id)["state"])
            if state not in ("queued", "running"):
                return state
            time.sleep(2)
        raise TimeoutError(f"run {run_id} still {state} after {timeout:.0f} s")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run (all map indexes, every page)."""
        return self._pages(f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances", "task_instances")

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
        """Every try of one task instance (``/tries``), oldest first."""
        path = f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/{map_index}/tries"
        if map_index < 0:
            path = f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/tries"
        return list(self.call("GET", path)["task_instances"])

    def clear(
        self,
        dag_id: str,
        run_id: str,
        task_ids: Sequence[str | Sequence[Any]],
        *,
        include_downstream: bool = False,
    ) -> list[dict[str, Any]]:
        """Clear for real (the API defaults to ``dry_run`` and ``only_failed``); the task instances it cleared."""
        body = {
            "dry_run": False,
            "only_failed": False,
            "dag_run_id": run_id,
            "task_ids": [item if isinstance(item, str) else list(item) for item in task_ids],
            "include_downstream": include_downstream,
            "include_upstream": False,
        }
        return list(self.call("POST", f"dags/{dag_id}/clearTaskInstances", json=body)["task_instances"])

    def task_log(self, dag_id: str, run_id: str, task_id: str, *, try_number: int, map_index: int = -1) -> str:
        """One try's log as text, read through the API (the log the UI shows)."""
        path = f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/logs/{try_number}"
        answer = self.call(
            "GET", path, params={"map_index": map_index, "full_content": "true"}, headers={"Accept": "application/json"}
        )
        content = answer.get("content", "")
        if isinstance(content, list):
            return "\n".join(json.dumps(line) if not isinstance(line, str) else line for line in content)
        return str(content)

    def xcom_values(self, dag_id: str, run_id: str) -> list[Any]:
        """Every XCom value of the run (the list gives only keys; each entry is fetched)."""
        run = quote(run_id, safe="")
        entries = self._pages(f"dags/{dag_id}/dagRuns/{run}/taskInstances/~/xcomEntries", "xcom_entries")
        values = []
        for entry in entries:
            path = f"dags/{dag_id}/dagRuns/{run}/taskInstances/{entry['task_id']}/xcomEntries/{quote(entry['key'])}"
            values.append(self.call("GET", path, params={"map_index": entry.get("map_index", -1)})["value"])
        return values

    def _pages(self, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            page = self.call("GET", path, params={**params, "limit": 100, "offset": len(found)})
            found.extend(page[key])
            if not page[key] or len(found) >= page["total_entries"]:
                return found


class Topology:
    """Start with ``start()`` or ``with``; everything it started is stopped by ``stop()``. See the module doc."""

    def __init__(
        self,
        executor: Executor = "celery",
        *,
        home: Path | None = None,
        poll_schedule: str = "*/15 * * * *",
        settings: Mapping[str, str] | None = None,
        workers: int = WORKER_COUNT,
        admin: tuple[str, str] | None = None,
        api_port: int = 0,
        exports_queue: bool = False,
        local: LocalParts | None = None,
    ) -> None:
        """``settings`` override compose's settings for this start only (e.g. shorter timeouts in a test);
        ``admin`` pins the login (default: admin and a random password); ``home`` is kept, a temp home is not;
        ``api_port`` 0 picks a free one; ``exports_queue`` sets ``CHARTER_EXPORTS_QUEUE_URL`` to a queue of this
        start's own (created by ``watch_exports``); ``local`` adds what ``make run`` shows a person (fixed ports,
        the preview, the inspector, a state file for ``make doctor``)."""
        if executor not in ("celery", "local"):
            raise ValueError(f"executor must be 'celery' or 'local', not {executor!r}")
        self.executor: Executor = executor
        self._own_home = home is None
        self.home = Path(home) if home else Path(tempfile.mkdtemp(prefix="charter-topology-"))
        self.poll_schedule = poll_schedule
        self.overrides = dict(settings or {})
        self.workers = workers if executor == "celery" else 0
        self.admin = admin or ("admin", secrets.token_urlsafe(12))
        self.api_port = api_port
        self.local = local
        self.name = f"t{uuid.uuid4().hex[:8]}"
        if local is None:
            self.stack = SandboxStack(self.home / "stand-ins", scc_events_table=f"scc-events-{self.name}")
        else:  # one stack per process: the samples' own names, as the README and the printed addresses give them
            self.stack = SandboxStack(self.home / "stand-ins", ports=local.stand_in_ports)
        # A queue of this start's own (moto keeps one account per process); the URL is read when the DAG is parsed.
        self.exports_queue_url = ""
        if exports_queue:
            queue = "charter-exports" if local else f"charter-exports-{self.name}"
            self.exports_queue_url = f"https://sqs.{self.stack.region}.amazonaws.com/123456789012/{queue}"
            self.overrides["CHARTER_EXPORTS_QUEUE_URL"] = self.exports_queue_url
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.env: dict[str, str] = {}
        self.variable: dict[str, Any] = {}
        self.api_url = ""
        self.api = RestApi("http://127.0.0.1:0", *self.admin)
        self._pg_dir: Path | None = None
        self._started = False
        self.preview_url = ""
        self.inspector_url = ""
        self._servers: list[Any] = []

    # lifecycle

    def start(self, *, timeout: float = 240) -> Topology:
        """Start everything and wait until the API server is healthy and has the DAG; on any failure stop it all."""
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self

    def __enter__(self) -> Topology:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every process started (Airflow first, then Redis and PostgreSQL), then the stand-ins."""
        airflow = [p for name, p in self.processes.items() if name not in ("postgres", "redis")]
        stop_sessions(list(reversed(airflow)), grace=15)
        storage = [p for name, p in self.processes.items() if name in ("postgres", "redis")]
        # SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for clients).
        stop_sessions(storage, grace=15, signum=signal.SIGINT)
        self.processes.clear()
        if self.local is not None and self.local.state_file is not None:
            self.local.state_file.unlink(missing_ok=True)
        while self._servers:
            with contextlib.suppress(Exception):
                self._servers.pop().stop()
        with contextlib.suppress(Exception):
            self.stack.stop()
        if self._pg_dir is not None:
            shutil.rmtree(self._pg_dir, ignore_errors=True)
            self._pg_dir = None
        if self._own_home:
            shutil.rmtree(self.home, ignore_errors=True)

    # what tests use

    @property
    def worker_hostnames(self) -> tuple[str, ...]:
        return tuple(f"charter-worker-{n}" for n in range(1, self.workers + 1))

    @property
    def config(self) -> PipelineConfig:
        from charter_pipeline.config import load_config

        return load_config(self.variable)

    def put_exports(self, files: Mapping[str, bytes] | None = None) -> list[str]:
        """Drop exports into the exports location: ``files`` (name -> bytes), or the sample exports."""
        s3 = self.stack.boto3_client("s3")
        if files is None:
            return write_samples(self.config.exports_uri, s3_client=s3)
        bucket, _, prefix = self.config.exports_uri.removeprefix("s3://").partition("/")
        written = []
        for name, data in files.items():
            s3.put_object(Bucket=bucket, Key=prefix + name, Body=data)
            written.append(f"s3://{bucket}/{prefix}{name}")
        return written

    def watch_exports(self, *, timeout: float = 120) -> BootstrapReport:
        """Event-driven intake, started (``exports_queue=True``): bootstrap creates the queue and the exports
        bucket's notification in moto, as ``make bootstrap`` does for a deployment, so an export put on S3 reaches
        the watcher through S3's own notification; then the pipeline is unpaused and this waits until the triggerer
        runs the watcher and has taken S3's test event. Returns bootstrap's report."""
        if not self.exports_queue_url:
            raise RuntimeError("watch_exports needs a topology started with exports_queue=True")
        with _environment(self.stack.connections_env()):
            report = bootstrap(self.config, exports_queue=self.exports_queue_url)
        if not report.ok:
            raise RuntimeError("bootstrap: " + "; ".join(report.lines()))
        self.api.unpause(DAG_ID)
        # The watcher is linked when the unpaused DAG is parsed next: ask for that now, not in up to 30 s.
        file_token = self.api.call("GET", f"dags/{DAG_ID}/details")["file_token"]
        self.api.request("PUT", f"parseDagFile/{file_token}").raise_for_status()
        # The watcher starts once the unpaused DAG's asset is linked to its trigger.
        self.wait(
            "the triggerer to run the exports queue watcher",
            lambda: "SqsSensorTrigger" in self.component_log("triggerer"),
            timeout,
        )
        # S3 announces a new notification with a test event: let the watcher take it before anything is dropped.
        sqs = self.stack.boto3_client("sqs")
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]

        def drained() -> bool:
            found = sqs.get_queue_attributes(QueueUrl=self.exports_queue_url, AttributeNames=names)["Attributes"]
            return sum(int(found[name]) for name in names) == 0

        self.wait("the exports queue to be drained", drained, timeout / 2)
        return report

    def kill_worker(self, number: int) -> None:
        """SIGKILL Celery worker ``number`` (1-based) and everything in its session, as if its machine died."""
        process = self.processes[f"worker-{number}"]
        signal_session(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def component_log(self, name: str) -> str:
        path = self.home / "components" / f"{name}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def component_logs(self) -> dict[str, str]:
        return {path.stem: self.component_log(path.stem) for path in sorted((self.home / "components").glob("*.log"))}

    def listeners(self) -> list[tuple[str, int, int]]:
        """(address, port, pid) of every TCP listener held by a process this topology started (``ss -ltnpH``)."""
        ours = {pid for process in self.processes.values() for pid in session_pids(process.pid)}
        listing = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
        found = []
        for line in listing.splitlines():
            fields = line.split()
            if len(fields) < 6:
                continue
            address, _, port = fields[3].rpartition(":")
            # The users column may hold spaces ("airflow api_server"): read the pids from the whole line.
            for pid in map(int, re.findall(r"pid=(\d+)", line)):
                if pid in ours:
                    found.append((address.strip("[]"), int(port), pid))
        return sorted(set(found))

    # starting

    def _start(self, timeout: float) -> None:
        put_plugins_on_path()
        from charter_pipeline.config import load_config

        (self.home / "components").mkdir(parents=True, exist_ok=True)
        self.stack.start()
        if self.local is None:
            self.variable = sample_variable(
                "",
                exports_uri=f"s3://charter-exports-{self.name}/incoming/",
                quarantine_uri=f"s3://charter-exports-{self.name}/quarantine/",
            )
            self.variable.update(
                {"ledger_table": f"charter-ledger-{self.name}", "scc_events_table": self.stack.scc_events_table}
            )
            self.variable["guest_bucket"] = f"guest-pages-{self.name}"
        else:
            self.variable = sample_variable("")
        with _environment(self.stack.connections_env()):
            report = bootstrap(load_config(self.variable), create_distribution=True)
        if not report.ok:
            raise RuntimeError("bootstrap: " + "; ".join(report.lines()))
        self.bootstrap_report = report
        self.variable["cloudfront_distribution_id"] = report.distribution_id
        if self.local is not None:
            self._start_local_pages(self.local)
        self.stack.webhook.deliver_to(self.config.exports_uri, timezone=self.config.timezone)

        values = {"AIRFLOW_API_HOST": f"127.0.0.1:{self.api_port or free_port()}"}
        if self.executor == "celery":
            values.update(self._start_storage())
        self.env = self.component_environment(values)
        port = int(values["AIRFLOW_API_HOST"].rpartition(":")[2])
        self.api_url = f"http://127.0.0.1:{port}"
        self.api = RestApi(self.api_url, *self.admin)

        migrate = subprocess.run(
            [airflow_bin(), "db", "migrate"],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        (self.home / "components" / "db-migrate.log").write_text(migrate.stdout + migrate.stderr, encoding="utf-8")
        if migrate.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed: {migrate.stderr[-2000:]}")
        self._store_connections_and_variable()

        skip = ["--skip-serve-logs"]
        api_host = self.local.api_host if self.local is not None else "127.0.0.1"
        self._spawn("api-server", [airflow_bin(), "api-server", "--host", api_host, "--port", str(port)])
        self._spawn("scheduler", [airflow_bin(), "scheduler", *skip])
        self._spawn("dag-processor", [airflow_bin(), "dag-processor"])
        self._spawn("triggerer", [airflow_bin(), "triggerer", *skip])
        for number, hostname in enumerate(self.worker_hostnames, start=1):
            worker = [airflow_bin(), "celery", "worker", "--celery-hostname", hostname, *skip]
            self._spawn(f"worker-{number}", _with_hostname(hostname, worker))

        self.wait("the API server", lambda: bool(self.api.healthy()), timeout)
        expected = ("scheduler", "triggerer", "dag_processor")
        self.wait(
            "scheduler, triggerer and dag-processor heartbeats",
            lambda: all(self.api.healthy().get(part) == "healthy" for part in expected),
            timeout,
        )
        self.wait(f"the DAG {DAG_ID} to be parsed", lambda: self.api.dag_known(DAG_ID), timeout)
        for number in range(1, self.workers + 1):
            log_name = f"worker-{number}"
            self.wait(log_name, lambda name=log_name: " ready." in self.component_log(name), timeout)  # type: ignore[misc]
        if self.local is not None and self.local.state_file is not None:
            write_state_file(self.local.state_file, self)

    def _start_local_pages(self, local: LocalParts) -> None:
        """The guest-site preview (guest addresses in the Variable point at it, never the production domain) and
        the inspector, on ``local``'s ports."""
        from charter_pipeline.config import load_config
        from sandbox.inspector import Inspector, InspectorSources
        from sandbox.preview import GuestSitePreview

        guest_bucket = load_config(self.variable).guest_bucket
        preview = GuestSitePreview(self.stack.moto_url, guest_bucket, port=local.preview_port)
        self.preview_url = preview.start()
        self._servers.append(preview)
        self.variable["guest_base_url"] = f"{self.preview_url}/g/"
        stack = self.stack
        secrets_shown_nowhere = (
            stack.dashboard_token,
            stack.scc_service_key,
            stack.aws_secret_access_key,
            stack.alerts_token,
        )
        inspector = Inspector(
            InspectorSources(
                stack.jada_url,
                stack.scc_url,
                stack.moto_url,
                load_config(self.variable),
                secrets=secrets_shown_nowhere,
                preview_url=self.preview_url,
                alerts_url=stack.alerts_url,
            ),
            port=local.inspector_port,
        )
        self.inspector_url = inspector.start()
        self._servers.append(inspector)

    def _store_connections_and_variable(self) -> None:
        """The connections and the ``charter_pipeline`` Variable into the metadata database, as a deployment keeps
        them: the UI lists and edits them there, and an edit is what the next task and ``make doctor`` read.
        (``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*`` in the components' environment would win over the database.)"""
        settings_file = self.home / "connections.json"
        settings_file.touch(mode=0o600)
        try:
            settings_file.write_text(json.dumps(self.stack.connections()), encoding="utf-8")
            commands = {
                "connections import": [airflow_bin(), "connections", "import", str(settings_file)],
                "variables set": [airflow_bin(), "variables", "set", "charter_pipeline", json.dumps(self.variable)],
            }
            for what, command in commands.items():
                done = subprocess.run(
                    command, env=self.env, cwd=self.home, capture_output=True, text=True, timeout=300, check=False
                )
                if done.returncode != 0:
                    raise RuntimeError(f"airflow {what} failed: {done.stderr[-2000:]}")
        finally:
            settings_file.unlink(missing_ok=True)

    def _start_storage(self) -> dict[str, str]:
        """A private PostgreSQL cluster and redis-server on free loopback ports; what compose's ${...} need."""
        password = secrets.token_hex(16)
        self._pg_dir = Path(tempfile.mkdtemp(prefix="charter-pg-"))
        data = self._pg_dir / "data"
        pwfile = self._pg_dir / "pw"
        pwfile.write_text(password + "\n", encoding="utf-8")
        as_postgres: list[str] = []
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: the cluster belongs to the postgres system user.
            shutil.chown(self._pg_dir, "postgres")
            shutil.chown(pwfile, "postgres")
            as_postgres = ["runuser", "-u", "postgres", "--"]
        initdb = subprocess.run(
            [
                *as_postgres,
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                "airflow",
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        pwfile.unlink()
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed: {initdb.stderr[-2000:]}")
        pg_port = free_port()
        self._spawn(
            "postgres",
            [
                *as_postgres,
                str(PG_BIN / "postgres"),
                "-D",
                str(data),
                "-p",
                str(pg_port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "unix_socket_directories=",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ],
        )
        redis_port = free_port()
        redis_dir = self.home / "redis"
        redis_dir.mkdir(exist_ok=True)
        self._spawn(
            "redis",
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(redis_dir),
            ],
        )
        self.wait("PostgreSQL", lambda: _create_database(pg_port, password), 60)
        self.wait("Redis", lambda: _redis_ping(redis_port), 30)
        return {
            "POSTGRES_PASSWORD": password,
            "POSTGRES_HOST": f"127.0.0.1:{pg_port}",
            "REDIS_HOST": f"127.0.0.1:{redis_port}",
        }

    def component_environment(self, values: Mapping[str, str]) -> dict[str, str]:
        """Every component's environment: compose's settings filled for this machine; no connection and no
        Variable (they are in the metadata database: see ``_store_connections_and_variable``)."""
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("AIRFLOW", "AWS_PROFILE", "AWS_SESSION_TOKEN", "CHARTER_"))
        }
        generated = {
            "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "POSTGRES_PASSWORD": "",  # LocalExecutor: SQLite below instead
        }
        env.update(shared_settings({**generated, **values}))
        if self.executor == "local":
            env["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{self.home / 'airflow.db'}"
            for name in [name for name in env if name.startswith("AIRFLOW__CELERY")]:
                del env[name]
        passwords = self.home / "admin-password.json"
        passwords.write_text(json.dumps({self.admin[0]: self.admin[1]}) + "\n", encoding="utf-8")
        passwords.chmod(0o600)
        api_host = values["AIRFLOW_API_HOST"]
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": api_host.rpartition(":")[2],
                "AIRFLOW__API__BASE_URL": f"http://{api_host}",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.admin[0]}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                # Nothing serves logs over the network (--skip-serve-logs); these ports are ours if anything does.
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
                "CHARTER_POLL_SCHEDULE": self.poll_schedule,
                "AWS_DEFAULT_REGION": self.stack.region,
                "PATH": os.pathsep.join([str(Path(airflow_bin()).parent), os.environ.get("PATH", "")]),
            }
        )
        env.update(NATIVE_ONLY)
        env.update(LOCAL_SETTINGS)
        if self.local is not None:
            env["AIRFLOW__API__HOST"] = self.local.api_host
        env.update(self.overrides)
        return env

    def _spawn(self, name: str, command: list[str]) -> None:
        log = (self.home / "components" / f"{name}.log").open("ab")
        with log:
            self.processes[name] = subprocess.Popen(
                command,
                env=self.env or None,
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own session: stop() reaches every process it forks
            )

    def wait(self, what: str, ready: Callable[[], bool], timeout: float) -> None:
        """Until ``ready()`` is true (an exception counts as not yet); fails at once, with its log, when a component
        has exited, and after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [name for name, p in self.processes.items() if p.poll() is not None]
            if dead:
                tails = "\n".join(f"--- {name}:\n{self.component_log(name)[-1500:]}" for name in dead)
                raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}\n{tails}")
            with contextlib.suppress(Exception):
                if ready():
                    return
            time.sleep(0.5)
        raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def _with_hostname(hostname: str, command: list[str]) -> list[str]:
    """``command`` in a UTS namespace of its own named ``hostname`` (needs root), so Airflow records which worker
    ran a task; without root the workers share the machine's hostname."""
    if os.geteuid() != 0:
        return command
    return ["unshare", "--uts", "--", "sh", "-c", 'hostname "$0" && exec "$@"', hostname, *command]


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Any:
    """``values`` in os.environ for the duration (bootstrap reads the connections as Airflow does)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def _create_database(port: int, password: str) -> bool:
    import psycopg2  # type: ignore[import-untyped]

    connection = psycopg2.connect(host="127.0.0.1", port=port, user="airflow", password=password, dbname="postgres")
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = 'airflow'")
            if cursor.fetchone() is None:
                cursor.execute("CREATE DATABASE airflow")
    finally:
        connection.close()
    return True


def _redis_ping(port: int) -> bool:
    import redis

    return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=2).ping())


def main(argv: list[str] | None = None) -> int:
    """``python -m sandbox.topology [--executor celery|local]``: the local stack (sandbox/run.py), Celery by default."""
    from sandbox.run import main as run_main

    parser = argparse.ArgumentParser(prog="python -m sandbox.topology", description=main.__doc__)
    parser.add_argument("--executor", choices=("celery", "local"), default="celery")
    args = parser.parse_args(argv)
    return run_main(["--executor", args.executor])


if __name__ == "__main__":
    sys.exit(main())
