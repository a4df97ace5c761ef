"""bin/trigger_booking.py, the operators' rerun command, run as written against a strict stand-in of Airflow's REST API.

The stand-in answers only what Airflow 3.3's API server answers for these calls (AIRFLOW-NOTES: POST /auth/token,
then Bearer; POST .../dagRuns must carry ``logical_date``; run ids are quoted in paths) and refuses anything else.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bin" / "trigger_booking.py"
RUNS = "/api/v2/dags/charter_booking_pipeline/dagRuns"
RUN_ID = "manual__2026-11-30T03:30:00.123456+00:00"
BOOKING = {"booking_id": "BS-480117", "status": "approved", "boat": "Sea Breeze", "passengers": 4}


@dataclass
class FakeAirflow:
    """Users, one token per sign-in, the runs made, and the states a run goes through when polled."""

    users: dict[str, str] = field(default_factory=lambda: {"ops": "s3cret-pass"})
    token: str = "tok-9f8e7d"
    states: list[str] = field(default_factory=lambda: ["queued", "running", "success"])
    refuse_with: str = ""
    locked: int = 0  # how many next requests answer 500 "database is locked", as SQLite under load made one
    # Each noted task's instance as GET .../taskInstances/{task_id} answers it (fields as Airflow 3.3 names them).
    task_instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    logs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # task id -> its log's JSON content
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    confs: list[dict[str, Any]] = field(default_factory=list)

    def answer(self, method: str, path: str, headers: Any, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        if (method, path) == ("POST", "/auth/token"):
            if self.users.get(body.get("username")) != body.get("password"):
                return 401, {"detail": "Invalid credentials"}
            return 201, {"access_token": self.token}
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"detail": "Not authenticated"}
        if self.locked:
            self.locked -= 1
            return 500, {"detail": "(sqlite3.OperationalError) database is locked"}
        if (method, path) == ("POST", RUNS):
            if set(body) != {"logical_date", "conf"} or body["logical_date"] is not None:
                return 422, {"detail": [{"loc": ["body", "logical_date"], "msg": "Field required"}]}
            if self.refuse_with:
                return 400, {"detail": self.refuse_with}
            self.confs.append(body["conf"])
            return 200, {"dag_run_id": RUN_ID, "state": "queued"}
        if method == "GET" and unquote(path) == f"{RUNS}/{RUN_ID}" and "+" not in path:
            return 200, {"dag_run_id": RUN_ID, "state": self.states.pop(0) if len(self.states) > 1 else self.states[0]}
        for task_id, ti in self.task_instances.items():
            if method == "GET" and unquote(path) == f"{RUNS}/{RUN_ID}/taskInstances/{task_id}":
                return 200, {"task_id": task_id, "map_index": -1, **ti}
            if method == "GET" and unquote(path) == f"{RUNS}/{RUN_ID}/taskInstances/{task_id}/logs/1":
                return 200, {"content": self.logs.get(task_id, []), "continuation_token": None}
        return 404, {"detail": "Not Found"}


@pytest.fixture
def airflow() -> Iterator[tuple[FakeAirflow, str]]:
    fake = FakeAirflow()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, answer = fake.answer(self.command, self.path, self.headers, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def trigger(url: str, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    """The command as an operator types it: the system's python3 would do; this interpreter is one."""
    environ = {"PATH": "/usr/bin:/bin", "AIRFLOW_URL": url, **env}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], env=environ, input=stdin, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip


def test_a_booking_is_triggered_with_a_token_from_the_login(airflow: tuple[FakeAirflow, str]) -> None:
    fake, url = airflow
    done = trigger(url, json.dumps(BOOKING), AIRFLOW_USERNAME="ops", AIRFLOW_PASSWORD="s3cret-pass")
    assert done.returncode == 0, done.stderr
    assert fake.confs == [{"booking": BOOKING}]
    assert [r[:2] for r in fake.requests] == [("POST", "/auth/token"), ("POST", RUNS)]
    assert RUN_ID in done.stdout
    assert f"{url}/dags/charter_booking_pipeline/runs/" in done.stdout
    assert "s3cret-pass" not in done.stdout + done.stderr
    assert fake.token not in done.stdout + done.stderr


def test_a_token_a_file_a_whole_conf_and_stdin_all_work(airflow: tuple[FakeAirflow, str], tmp_path: Path) -> None:
    fake, url = airflow
    conf_file = tmp_path / "booking.json"
    conf_file.write_text(json.dumps({"booking": BOOKING}))
    assert trigger(url, f"@{conf_file}", AIRFLOW_TOKEN=fake.token).returncode == 0
    assert trigger(url, "-", stdin=json.dumps(BOOKING), AIRFLOW_TOKEN=fake.token).returncode == 0
    assert trigger(url, "--poll", AIRFLOW_TOKEN=fake.token).returncode == 0
    assert fake.confs == [{"booking": BOOKING}, {"booking": BOOKING}, {}]
    assert all(path != "/auth/token" for _, path, _ in fake.requests)


def test_wait_follows_the_run_to_its_end(airflow: tuple[FakeAirflow, str]) -> None:
    fake, url = airflow
    done = trigger(url, json.dumps(BOOKING), "--wait", "--every", "0.05", AIRFLOW_TOKEN=fake.token)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"run {RUN_ID}: success" in done.stdout
    fake.states = ["running", "failed"]
    refusal = "Manual booking refused: Gross: '-50' must be an amount in USD, zero or more"
    fake.task_instances = {
        "collect_bookings": {"state": "failed", "try_number": 1, "rendered_map_index": refusal},
        "run_summary": {"state": "failed", "try_number": 1, "rendered_map_index": None},
    }
    # Airflow 3.3 logs the exception as the event "Task failed with exception" with its text in error_detail.
    fake.logs["run_summary"] = [
        {"event": "Task started"},
        {"event": "Task failed with exception", "error_detail": [
            {"exc_type": "AirflowFailException", "exc_value": "collect_bookings did not finish", "frames": []}]},
    ]  # fmt: skip
    failed = trigger(url, json.dumps(BOOKING), "--wait", "--every", "0.05", AIRFLOW_TOKEN=fake.token)
    assert failed.returncode == 1
    assert f"  collect_bookings: {refusal}" in failed.stdout
    assert "  run_summary: AirflowFailException: collect_bookings did not finish" in failed.stdout


def test_wait_prints_what_a_green_run_says_on_its_page(airflow: tuple[FakeAirflow, str]) -> None:
    fake, url = airflow
    nothing = "Manual booking BS-480117: nothing changed: it matches what is already published"
    fake.task_instances = {"run_summary": {"state": "success", "try_number": 1, "rendered_map_index": nothing}}
    done = trigger(url, json.dumps(BOOKING), "--wait", "--every", "0.05", AIRFLOW_TOKEN=fake.token)
    assert done.returncode == 0
    assert f"  run_summary: {nothing}" in done.stdout


def test_a_locked_database_is_tried_again_and_said(airflow: tuple[FakeAirflow, str]) -> None:
    """Issue 22: one trigger was lost to HTTP 500 "database is locked" (SQLite under load)."""
    fake, url = airflow
    fake.locked = 2
    done = trigger(url, json.dumps(BOOKING), AIRFLOW_TOKEN=fake.token, AIRFLOW_RETRY_PAUSE="0.01")
    assert done.returncode == 0, done.stderr
    assert fake.confs == [{"booking": BOOKING}]
    assert done.stderr.count("database is locked") == 2
    assert "trying again" in done.stderr
    fake.locked = 99
    gave_up = trigger(url, json.dumps(BOOKING), AIRFLOW_TOKEN=fake.token, AIRFLOW_RETRY_PAUSE="0.01")
    assert gave_up.returncode == 2
    assert "HTTP 500" in gave_up.stderr.splitlines()[-1]


def test_a_refused_booking_prints_airflows_answer_naming_the_field(airflow: tuple[FakeAirflow, str]) -> None:
    fake, url = airflow
    fake.refuse_with = "Invalid input for param passengers: 0 is less than the minimum of 1"
    done = trigger(url, json.dumps(BOOKING), AIRFLOW_TOKEN=fake.token)
    assert done.returncode == 2
    assert "HTTP 400" in done.stderr
    assert "param passengers" in done.stderr


def test_bad_credentials_bad_json_and_no_server_are_plain_errors(airflow: tuple[FakeAirflow, str]) -> None:
    fake, url = airflow
    wrong = trigger(url, json.dumps(BOOKING), AIRFLOW_USERNAME="ops", AIRFLOW_PASSWORD="nope")
    assert (wrong.returncode, "HTTP 401" in wrong.stderr) == (2, True)
    assert "nope" not in wrong.stderr
    nothing = trigger(url, json.dumps(BOOKING))  # not the local stack's URL: no login is guessed
    assert (nothing.returncode, "no credentials" in nothing.stderr) == (2, True)
    not_json = trigger(url, "{booking_id: BS-1}", AIRFLOW_TOKEN=fake.token)
    assert (not_json.returncode, "not valid JSON" in not_json.stderr) == (2, True)
    gone = trigger("http://127.0.0.1:9", json.dumps(BOOKING), AIRFLOW_TOKEN="x")
    assert (gone.returncode, "cannot reach" in gone.stderr) == (2, True)
    assert fake.confs == []
