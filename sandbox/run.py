"""``make run``: the whole pipeline on this machine, with stand-ins for every outside service.

Starts moto (5055) with the counting AWS proxy (5056), the JADA calendar (8081), ShipCaptainCrew (8082) and the
alert receiver (8083) stand-ins, the guest-site preview (8090) and the inspector (8095); creates the buckets, tables
and CloudFront distribution (``sandbox.bootstrap``); then runs ``airflow standalone`` (8080) on this repo's dags/
and plugins/ with the connections and the Variable in its environment, drops the sample exports and unpauses the
DAGs: the scheduled poll that starts on unpause reads the samples (a run is triggered only if none starts), and
that run is printed. The poll then repeats every 2 minutes, so new files dropped into the exports bucket show up
quickly. Guest addresses (summary, calendar entries) point at the guest-site preview, not the production domain.
bootstrap also creates the exports queue and the bucket's notification to it (``CHARTER_EXPORTS_QUEUE_URL`` for
Airflow): a file dropped into the exports bucket starts a run within seconds, through the triggerer's watcher.

Ctrl-C stops everything it started. Every ``make run`` starts clean: the stand-ins and moto start empty (a fresh
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
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import quote

import requests

from sandbox.bootstrap import REPO, bootstrap, put_plugins_on_path
from sandbox.inspector import Inspector, InspectorSources
from sandbox.preview import GuestSitePreview
from sandbox.samples import sample_variable, write_samples
from sandbox.stack import SandboxStack
from sandbox.topology import loopback_airflow

DAG_ID = "charter_booking_pipeline"
PORTS = {"moto": 5055, "aws": 5056, "jada": 8081, "scc": 8082, "alerts": 8083, "webhook": 8084}
# The other DAGs `make run` schedules besides DAG_ID, each unpaused once it is parsed (CONTRACT.md sections 11, 12).
OTHER_DAG_IDS = ("charter_aftercare", "charter_reconcile")
PREVIEW_PORT = 8090
INSPECTOR_PORT = 8095
AIRFLOW_PORT = 8080
AIRFLOW_HOME = REPO / ".airflow"
STATE_DIR = REPO / ".sandbox"
VARIABLE_FILE = STATE_DIR / "charter_pipeline.json"
LOCAL_LOGIN = ("admin", "admin")
LOCAL_POLL_SCHEDULE = "*/2 * * * *"
# Daily in a deployment; locally often enough to watch a deleted page come back in the inspector.
LOCAL_RECONCILE_SCHEDULE = "*/10 * * * *"
LOCAL_EXPORTS_QUEUE = "charter-exports"


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
    """The environment an Airflow process needs to run this repo's DAG: nothing beyond what CONTRACT.md section 1
    allows a deployment (dags and plugins folders, connections, the Variable) plus local-only settings."""
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
    # `airflow standalone` starts its parts as `airflow ...` from PATH: make that this environment's airflow.
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


@dataclass
class AirflowApi:
    """Just enough of Airflow's REST API (``/auth/token``, then Bearer) to unpause and trigger the DAG."""

    base_url: str
    username: str
    password: str
    _token: str = ""

    def _headers(self) -> dict[str, str]:
        if not self._token:
            answer = requests.post(
                f"{self.base_url}/auth/token",
                json={"username": self.username, "password": self.password},
                timeout=10,
            )
            answer.raise_for_status()
            self._token = answer.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def healthy(self) -> bool:
        try:
            answer = requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=3)
        except requests.RequestException:
            return False
        return answer.status_code == 200

    def dag_known(self, dag_id: str) -> bool:
        answer = requests.get(f"{self.base_url}/api/v2/dags/{dag_id}", headers=self._headers(), timeout=10)
        return answer.status_code == 200

    def unpause(self, dag_id: str) -> None:
        answer = requests.patch(
            f"{self.base_url}/api/v2/dags/{dag_id}", json={"is_paused": False}, headers=self._headers(), timeout=10
        )
        answer.raise_for_status()

    def run_ids(self, dag_id: str) -> list[str]:
        """The DAG's runs, oldest first."""
        answer = requests.get(
            f"{self.base_url}/api/v2/dags/{dag_id}/dagRuns",
            params={"order_by": "run_after", "limit": 100},
            headers=self._headers(),
            timeout=10,
        )
        answer.raise_for_status()
        return [str(run["dag_run_id"]) for run in answer.json()["dag_runs"]]

    def trigger(self, dag_id: str) -> str:
        # Airflow 3 requires the key; null means "now" (AIRFLOW-NOTES.md).
        answer = requests.post(
            f"{self.base_url}/api/v2/dags/{dag_id}/dagRuns",
            json={"logical_date": None},
            headers=self._headers(),
            timeout=10,
        )
        answer.raise_for_status()
        return str(answer.json()["dag_run_id"])


def wait_for(what: str, ready: Callable[[], bool], *, timeout: float, alive: Callable[[], bool]) -> None:
    """Poll ``ready`` until it holds; give up after ``timeout`` seconds or as soon as ``alive`` is false."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"stopped while waiting for {what}")
        with contextlib.suppress(requests.RequestException):
            if ready():
                return
        time.sleep(1)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def stop_process_group(process: subprocess.Popen[bytes], *, grace: float = 20) -> None:
    """SIGTERM the process group ``process`` leads, then SIGKILL whatever is left after ``grace`` seconds."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    # Children that outlived the leader are still in its group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


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


def start_first_poll(
    api: AirflowApi, drop_samples: Callable[[], object], *, trigger: bool = True, wait: float = 60
) -> tuple[str, str]:
    """Drop the samples, unpause the DAG, and return the run that reads them, with how it started.

    Unpausing starts a scheduled poll at once (catchup=False runs the latest cron tick), and max_active_runs=1 makes
    a triggered run wait behind it and find nothing new. So the samples go first, the scheduled run is the one to
    show, and a run is triggered only when none has started within ``wait`` seconds (("", "") without ``trigger``).
    """
    drop_samples()
    before = set(api.run_ids(DAG_ID))
    api.unpause(DAG_ID)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        started = [run_id for run_id in api.run_ids(DAG_ID) if run_id not in before]
        if started:
            return started[0], "the scheduled poll that started on unpause"
        time.sleep(1)
    if not trigger:
        return "", ""
    return api.trigger(DAG_ID), "triggered, since no scheduled poll started"


class _Stop(Exception):
    """SIGINT or SIGTERM arrived."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def run(*, trigger: bool = True) -> int:
    """Start everything, keep it running until Ctrl-C, then stop everything that was started."""
    busy = busy_ports({**PORTS, "preview": PREVIEW_PORT, "inspector": INSPECTOR_PORT, "airflow": AIRFLOW_PORT})
    if busy:
        print(f"make run: port(s) already in use: {', '.join(busy)}. Is another `make run` still going?")
        return 1
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)

    put_plugins_on_path()
    # Airflow reads its home when first imported (bootstrap's AWS hook imports it): set it before anything else.
    reset_airflow_home(AIRFLOW_HOME)
    STATE_DIR.mkdir(exist_ok=True)
    os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"

    from charter_pipeline.config import load_config

    stack = SandboxStack(STATE_DIR / "stack", ports=PORTS)
    cleanup: list[Callable[[], None]] = []
    airflow: subprocess.Popen[bytes] | None = None
    try:
        stack.start()
        cleanup.append(stack.stop)
        connections = stack.connections_env()
        os.environ.update(connections)
        print(
            f"stand-ins: moto {stack.moto_url}, AWS proxy {stack.aws_url}, JADA {stack.jada_url}, SCC {stack.scc_url}, "
            f"alerts {stack.alerts_url}"
        )

        report = bootstrap(
            load_config(sample_variable("")), create_distribution=True, exports_queue=LOCAL_EXPORTS_QUEUE
        )
        for line in report.lines():
            print(f"  bootstrap: {line}")
        preview = GuestSitePreview(stack.moto_url, load_config(sample_variable("")).guest_bucket, port=PREVIEW_PORT)
        preview_url = preview.start()
        cleanup.append(preview.stop)
        variable = local_variable(report.distribution_id, preview_url)
        config = load_config(variable)
        stack.webhook.deliver_to(config.exports_uri, timezone=config.timezone)
        VARIABLE_FILE.write_text(json.dumps(variable, indent=2) + "\n", encoding="utf-8")
        secrets = (stack.dashboard_token, stack.scc_service_key, stack.aws_secret_access_key, stack.alerts_token)
        inspector = Inspector(
            InspectorSources(
                stack.jada_url,
                stack.scc_url,
                stack.moto_url,
                config,
                secrets=secrets,
                preview_url=preview_url,
                alerts_url=stack.alerts_url,
            ),
            port=INSPECTOR_PORT,
        )
        inspector_url = inspector.start()
        cleanup.append(inspector.stop)

        passwords = AIRFLOW_HOME / "local-admin-password.json"
        passwords.write_text(json.dumps({LOCAL_LOGIN[0]: LOCAL_LOGIN[1]}) + "\n", encoding="utf-8")
        env = airflow_env(
            AIRFLOW_HOME,
            connections=connections,
            variable=variable,
            extra={
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{LOCAL_LOGIN[0]}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                "CHARTER_POLL_SCHEDULE": LOCAL_POLL_SCHEDULE,
                "CHARTER_EXPORTS_QUEUE_URL": report.exports_queue_url,
                "CHARTER_RECONCILE_SCHEDULE": LOCAL_RECONCILE_SCHEDULE,
                # Local only: the UI on loopback unless the caller exposes it deliberately (README), and no log
                # servers on every interface (loopback_airflow).
                "AIRFLOW__API__HOST": os.environ.get("AIRFLOW__API__HOST", "127.0.0.1"),
            },
        )
        env["PATH"] = os.pathsep.join([str(loopback_airflow(STATE_DIR / "bin")), env["PATH"]])
        log_path = STATE_DIR / "airflow.log"
        print(f"starting airflow standalone (log: {log_path.relative_to(REPO)}) ...")
        with log_path.open("ab") as log:
            airflow = subprocess.Popen(
                [airflow_bin(), "standalone"],
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group, so stopping it stops every child it forked
            )
        running = airflow
        api = AirflowApi(f"http://127.0.0.1:{AIRFLOW_PORT}", *LOCAL_LOGIN)
        wait_for("Airflow's health check", api.healthy, timeout=180, alive=lambda: running.poll() is None)
        wait_for(
            f"the DAG {DAG_ID} to be parsed",
            lambda: api.dag_known(DAG_ID),
            timeout=180,
            alive=lambda: running.poll() is None,
        )

        def drop_samples() -> None:
            written = write_samples(config.exports_uri, s3_client=stack.boto3_client("s3"))
            print(f"sample exports: {', '.join(written)}")

        run_id, how = start_first_poll(api, drop_samples, trigger=trigger)
        for other in OTHER_DAG_IDS:
            if api.dag_known(other):
                api.unpause(other)
        if run_id:
            print(f"samples read by run {run_id} ({how}):")
            print(f"  http://127.0.0.1:{AIRFLOW_PORT}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}")

        print()
        login = f"login {LOCAL_LOGIN[0]} / {LOCAL_LOGIN[1]} (pinned for this local stack only)"
        print(f"  Airflow UI       http://127.0.0.1:{AIRFLOW_PORT}/   {login}")
        print(f"  Guest site       {preview_url}/g/<SESSION_ID>")
        print(f"  Inspector        {inspector_url}")
        print(f"  Exports bucket   {config.exports_uri}  (drop CSV/JSON exports here: a run starts in seconds)")
        print(f"  Booking webhook  {stack.webhook.url}/   (signed POSTs: make webhook BOOKING=@booking.json)")
        print("  Ctrl-C stops everything.")
        print()
        shown = ""
        while running.poll() is None:
            if not shown:
                shown = example_guest_url(stack, config.ledger_table, preview_url)
                if shown:
                    print(f"  Example guest page: {shown}")
            time.sleep(3)
        print(f"airflow standalone exited with code {running.returncode}; see {log_path.relative_to(REPO)}")
        return 1
    except _Stop:
        print("\nstopping ...")
        return 0
    except RuntimeError as exc:
        print(f"make run: {exc}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if airflow is not None:
            stop_process_group(airflow)
        for stop in reversed(cleanup):
            with contextlib.suppress(Exception):
                stop()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def main(argv: list[str] | None = None) -> int:
    """``python -m sandbox.run``."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.run", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--no-trigger", action="store_true", help="never trigger a run, even when no scheduled poll starts on unpause"
    )
    args = parser.parse_args(argv)
    return run(trigger=not args.no_trigger)


if __name__ == "__main__":
    sys.exit(main())
