"""``make run`` and ``make run-celery``: the whole pipeline on this machine, with stand-ins for every outside
service. One stack, either executor: ``--executor local`` (``make run``, LocalExecutor on SQLite) or
``--executor celery`` (``make run-celery``, Celery workers on PostgreSQL and Redis), both started by
``sandbox.topology.Topology`` with compose's settings.

Starts moto (5055) with the counting AWS proxy (5056), the JADA calendar (8081), ShipCaptainCrew (8082) and the
alert receiver (8083) stand-ins, the guest-site preview (8090) and the inspector (8095); creates the buckets,
tables, CloudFront distribution and exports queue (``sandbox.bootstrap``); then Airflow's api-server (8080),
scheduler, dag-processor and triggerer (and two Celery workers) on this repo's dags/ and plugins/. The connections
and the ``charter_pipeline`` Variable go into Airflow's metadata database (Admin -> Connections and Variables list
and edit them; an edit is what the next task and ``make doctor`` read), never into the components' environment,
which would win over the database. Then it unpauses the DAGs and the exports queue's watcher, drops the sample
exports and prints the run that reads them (a run is triggered only if none starts). The poll also repeats every
2 minutes. Guest addresses (summary, calendar entries) point at the guest-site preview, not the production domain.

``.sandbox/local-stack.json`` says where the running stack's Airflow is (for ``make doctor`` in another shell);
it is removed on exit. Ctrl-C stops everything. Every start is clean: the stand-ins and moto start empty (a fresh
ledger and buckets), and Airflow's home (.airflow/: metadata database, logs, old runs) is emptied first, since the
old runs' artifacts are gone with the old moto anyway.

The Airflow login is admin / admin: a password pinned for this local stack only, never for a real deployment.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any, Protocol
from urllib.parse import quote

from sandbox.bootstrap import REPO, put_plugins_on_path
from sandbox.samples import sample_variable, write_samples
from sandbox.topology import Executor, LocalParts, Topology

DAG_ID = "charter_booking_pipeline"
PORTS = {"moto": 5055, "aws": 5056, "jada": 8081, "scc": 8082, "alerts": 8083, "webhook": 8084}
# The other DAGs `make run` schedules besides DAG_ID, each unpaused once it is parsed (CONTRACT.md sections 11, 12).
OTHER_DAG_IDS = ("charter_aftercare", "charter_reconcile")
PREVIEW_PORT = 8090
INSPECTOR_PORT = 8095
AIRFLOW_PORT = 8080
AIRFLOW_HOME = REPO / ".airflow"
STATE_DIR = REPO / ".sandbox"
# Where the running stack says where its Airflow is: `make doctor` from another shell reads it (sandbox/doctor.py).
STATE_FILE = STATE_DIR / "local-stack.json"
LOCAL_LOGIN = ("admin", "admin")
LOCAL_POLL_SCHEDULE = "*/2 * * * *"
# Daily in a deployment; locally often enough to watch a deleted page come back in the inspector.
LOCAL_RECONCILE_SCHEDULE = "*/10 * * * *"


def airflow_bin() -> str:
    """The ``airflow`` script of the interpreter running us (``.venv/bin/airflow``)."""
    return str(Path(sys.executable).parent / "airflow")


def airflow_env(
    home: Path,
    *,
    connections: Mapping[str, str],
    variable: Mapping[str, Any],
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of one ``airflow dags test`` (make demo, the end-to-end tests): nothing beyond what
    CONTRACT.md section 1 allows a deployment (dags and plugins folders, connections, the Variable) plus local-only
    settings. The running stack keeps its connections in its metadata database instead (Topology)."""
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_VAR_CHARTER_PIPELINE": json.dumps(variable),
            # Local emulators only: the stack's keys must never meet a real account's configuration.
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        env.pop(name, None)
    env["PATH"] = os.pathsep.join([str(Path(airflow_bin()).parent), env.get("PATH", "")])
    env.update(connections)
    env.update(extra or {})
    return env


def busy_ports(ports: Mapping[str, int]) -> list[str]:
    """The ``name (port)`` of each port something on loopback already listens on."""
    busy = []
    for name, port in ports.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                busy.append(f"{name} ({port})")
    return busy


def example_guest_url(stack: Any, ledger_table: str, preview_url: str) -> str:
    """A guest page address in the preview for the first published booking in the ledger, or ""."""
    dynamodb = stack.boto3_client("dynamodb")
    with contextlib.suppress(Exception):
        for page in dynamodb.get_paginator("scan").paginate(TableName=ledger_table):
            for item in page["Items"]:
                session_id = item.get("session_id", {}).get("S", "")
                if session_id and item.get("state", {}).get("S") == "published":
                    return f"{preview_url}/g/{session_id}"
    return ""


def reset_airflow_home(home: Path) -> None:
    """Empty Airflow's home so a new ``make run`` starts without the old runs (whose artifacts died with moto)."""
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)


def local_variable(distribution_id: str, preview_url: str) -> dict[str, Any]:
    """The local stack's Variable: the samples' roster, the distribution, and guest addresses on the preview."""
    return sample_variable(distribution_id, guest_base_url=f"{preview_url}/g/")


class RunsApi(Protocol):
    """What start_first_poll needs of Airflow's REST API (sandbox.topology.RestApi)."""

    def run_ids(self, dag_id: str) -> list[str]: ...

    def unpause(self, dag_id: str) -> None: ...

    def trigger(self, dag_id: str) -> str: ...


HOW_IT_STARTED = {
    "scheduled": "the scheduled poll",
    "asset_triggered": "started by the exports queue watcher",
    "manual": "triggered, since no run started by itself",
}


def start_first_poll(
    api: RunsApi, drop_samples: Callable[[], object], *, trigger: bool = True, wait: float = 60
) -> tuple[str, str]:
    """Drop the samples, unpause the DAG, and return the run that reads them, with how it started.

    Unpausing starts a scheduled poll at once (catchup=False runs the latest cron tick), and max_active_runs=1 makes
    a triggered run wait behind it and find nothing new. So the samples go first, the run that starts by itself
    (the scheduled poll, or the exports queue's watcher woken by the samples) is the one to show, and a run is
    triggered only when none has started within ``wait`` seconds (("", "") without ``trigger``).
    """
    before = set(api.run_ids(DAG_ID))
    drop_samples()
    api.unpause(DAG_ID)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        started = [run_id for run_id in api.run_ids(DAG_ID) if run_id not in before]
        if started:
            return started[0], HOW_IT_STARTED.get(started[0].partition("__")[0], "started by itself")
        time.sleep(1)
    if not trigger:
        return "", ""
    return api.trigger(DAG_ID), HOW_IT_STARTED["manual"]


def local_topology(executor: Executor) -> Topology:
    """The local stack, unstarted: the same for either executor but the executor (and Celery's storage)."""
    settings = {
        "CHARTER_RECONCILE_SCHEDULE": LOCAL_RECONCILE_SCHEDULE,
        # Aftercare keeps the contract's hourly default.
    }
    if executor == "local":
        # LocalExecutor runs its tasks beside the scheduler: four at once keep a 2-core machine usable.
        settings["AIRFLOW__CORE__PARALLELISM"] = "4"
    local = LocalParts(
        stand_in_ports=PORTS,
        preview_port=PREVIEW_PORT,
        inspector_port=INSPECTOR_PORT,
        # Loopback unless the caller exposes the UI deliberately (README: Local stack).
        api_host=os.environ.get("AIRFLOW__API__HOST", "127.0.0.1"),
        state_file=STATE_FILE,
    )
    return Topology(
        executor,
        home=AIRFLOW_HOME,
        poll_schedule=LOCAL_POLL_SCHEDULE,
        settings=settings,
        admin=LOCAL_LOGIN,
        api_port=AIRFLOW_PORT,
        exports_queue=True,
        local=local,
    )


class _Stop(Exception):
    """SIGINT or SIGTERM arrived."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def run(*, executor: Executor = "local", trigger: bool = True) -> int:
    """Start everything, keep it running until Ctrl-C, then stop everything that was started."""
    command = "make run" if executor == "local" else "make run-celery"
    busy = busy_ports({**PORTS, "preview": PREVIEW_PORT, "inspector": INSPECTOR_PORT, "airflow": AIRFLOW_PORT})
    if busy:
        print(f"{command}: port(s) already in use: {', '.join(busy)}. Is another `make run` still going?")
        return 1
    # Also SIGINT: a shell that starts this in the background hands it SIGINT ignored, and Ctrl-C must still stop it.
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)

    put_plugins_on_path()
    # Airflow reads its home when first imported (bootstrap's AWS hook imports it): set it before anything else.
    reset_airflow_home(AIRFLOW_HOME)
    STATE_DIR.mkdir(exist_ok=True)
    os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME / "this-process")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"

    topology = local_topology(executor)
    print(f"starting the stand-ins and Airflow ({executor} executor; component logs in .airflow/components/) ...")
    try:
        topology.start()
        stack = topology.stack
        print(
            f"stand-ins: moto {stack.moto_url}, AWS proxy {stack.aws_url}, JADA {stack.jada_url}, "
            f"SCC {stack.scc_url}, alerts {stack.alerts_url}"
        )
        for line in topology.bootstrap_report.lines():
            print(f"  bootstrap: {line}")
        # The exports queue, the bucket's notification to it, and the triggerer's watcher running on it.
        watching = topology.watch_exports()
        for line in watching.lines():
            if "queue" in line or "notification" in line:
                print(f"  bootstrap: {line}")
        config = topology.config

        def drop_samples() -> None:
            written = write_samples(config.exports_uri, s3_client=stack.boto3_client("s3"))
            print(f"sample exports: {', '.join(written)}")

        run_id, how = start_first_poll(topology.api, drop_samples, trigger=trigger)
        for other in OTHER_DAG_IDS:
            if topology.api.dag_known(other):
                topology.api.unpause(other)
        if run_id:
            print(f"samples read by run {run_id} ({how}):")
            print(f"  {topology.api_url}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}")

        print()
        login = f"login {LOCAL_LOGIN[0]} / {LOCAL_LOGIN[1]} (pinned for this local stack only)"
        workers = f", workers {', '.join(topology.worker_hostnames)}" if topology.worker_hostnames else ""
        print(f"  Airflow UI       {topology.api_url}/   {login}")
        print(f"  Executor         {topology.env['AIRFLOW__CORE__EXECUTOR']}{workers}")
        print("  Connections      Admin -> Connections (and Variables): edit there; the next run uses the edit")
        print(f"  Guest site       {topology.preview_url}/g/<SESSION_ID>  (every page: {topology.preview_url}/)")
        print(f"  Inspector        {topology.inspector_url}")
        print(f"  Exports bucket   {config.exports_uri}  (drop CSV/JSON exports here: a run starts in seconds)")
        print(f"  Booking webhook  {stack.webhook.url}/   (signed POSTs: make webhook BOOKING=@booking.json)")
        print("  Doctor           make doctor  (from another shell: checks this stack)")
        print("  Ctrl-C stops everything.")
        print()
        shown = ""
        while all(process.poll() is None for process in topology.processes.values()):
            if not shown:
                shown = example_guest_url(stack, config.ledger_table, topology.preview_url)
                if shown:
                    print(f"  Example guest page: {shown}")
            time.sleep(3)
        dead = [name for name, process in topology.processes.items() if process.poll() is not None]
        print(f"{command}: {', '.join(dead)} exited; see .airflow/components/")
        return 1
    except _Stop:
        print("\nstopped everything.")
        return 0
    except RuntimeError as exc:
        print(f"{command}: {exc}")
        return 1
    finally:
        # Stopping takes seconds: a second Ctrl-C must not cut it short and leave processes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        topology.stop()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def main(argv: list[str] | None = None) -> int:
    """``python -m sandbox.run``."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.run", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--executor", choices=("local", "celery"), default="local", help="local (make run) or celery (make run-celery)"
    )
    parser.add_argument(
        "--no-trigger", action="store_true", help="never trigger a run, even when no run starts by itself"
    )
    args = parser.parse_args(argv)
    return run(executor=args.executor, trigger=not args.no_trigger)


if __name__ == "__main__":
    sys.exit(main())
