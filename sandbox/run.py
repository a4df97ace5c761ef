"""``make run``: the whole pipeline on this machine, with stand-ins for every outside service.

Starts moto (5055) with the counting AWS proxy (5056), the JADA calendar (8081) and ShipCaptainCrew (8082)
stand-ins, the guest-site preview (8090) and the inspector (8095); creates the buckets, tables and CloudFront
distribution (``sandbox.bootstrap``); then runs ``airflow standalone`` (8080) on this repo's dags/ and plugins/
with the connections and the Variable in its environment, unpauses the DAG, drops the sample exports and triggers
one run. The poll then repeats every 2 minutes, so new files dropped into the exports bucket show up quickly.
bootstrap also creates the exports queue and the bucket's notification to it (``CHARTER_EXPORTS_QUEUE_URL`` for
Airflow): a file dropped into the exports bucket starts a run within seconds, through the triggerer's watcher.

Ctrl-C stops everything it started. Airflow's home (.airflow/: metadata database, logs) is kept between runs; the
stand-ins start empty each time, and so does moto, so every ``make run`` begins with a fresh ledger and buckets.

The Airflow login is admin / admin: a password pinned for this local stack only, never for a real deployment.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
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

import requests

from sandbox.bootstrap import REPO, bootstrap, put_plugins_on_path
from sandbox.inspector import Inspector, InspectorSources
from sandbox.preview import GuestSitePreview
from sandbox.samples import sample_variable, write_samples
from sandbox.stack import SandboxStack
from sandbox.topology import loopback_airflow

DAG_ID = "charter_booking_pipeline"
PORTS = {"moto": 5055, "aws": 5056, "jada": 8081, "scc": 8082}
PREVIEW_PORT = 8090
INSPECTOR_PORT = 8095
AIRFLOW_PORT = 8080
AIRFLOW_HOME = REPO / ".airflow"
STATE_DIR = REPO / ".sandbox"
VARIABLE_FILE = STATE_DIR / "charter_pipeline.json"
LOCAL_LOGIN = ("admin", "admin")
LOCAL_POLL_SCHEDULE = "*/2 * * * *"
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
    AIRFLOW_HOME.mkdir(exist_ok=True)
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
            f"stand-ins: moto {stack.moto_url}, AWS proxy {stack.aws_url}, JADA {stack.jada_url}, SCC {stack.scc_url}"
        )

        report = bootstrap(
            load_config(sample_variable("")), create_distribution=True, exports_queue=LOCAL_EXPORTS_QUEUE
        )
        for line in report.lines():
            print(f"  bootstrap: {line}")
        variable = sample_variable(report.distribution_id)
        config = load_config(variable)
        VARIABLE_FILE.write_text(json.dumps(variable, indent=2) + "\n", encoding="utf-8")

        preview = GuestSitePreview(stack.moto_url, config.guest_bucket, port=PREVIEW_PORT)
        preview_url = preview.start()
        cleanup.append(preview.stop)
        secrets = (stack.dashboard_token, stack.scc_service_key, stack.aws_secret_access_key)
        inspector = Inspector(
            InspectorSources(
                stack.jada_url, stack.scc_url, stack.moto_url, config, secrets=secrets, preview_url=preview_url
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
                # Local only (issue 14): the UI on loopback, and no log servers on every interface.
                "AIRFLOW__API__HOST": "127.0.0.1",
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
        api.unpause(DAG_ID)
        written = write_samples(config.exports_uri, s3_client=stack.boto3_client("s3"))
        print(f"sample exports: {', '.join(written)}")
        if trigger:
            print(f"triggered run {api.trigger(DAG_ID)}")

        print()
        login = f"login {LOCAL_LOGIN[0]} / {LOCAL_LOGIN[1]} (pinned for this local stack only)"
        print(f"  Airflow UI       http://127.0.0.1:{AIRFLOW_PORT}/   {login}")
        print(f"  Guest site       {preview_url}/g/<SESSION_ID>")
        print(f"  Inspector        {inspector_url}")
        print(f"  Exports bucket   {config.exports_uri}  (drop CSV/JSON exports here: a run starts in seconds)")
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
    parser.add_argument("--no-trigger", action="store_true", help="do not trigger a run (the schedule still polls)")
    args = parser.parse_args(argv)
    return run(trigger=not args.no_trigger)


if __name__ == "__main__":
    sys.exit(main())
