#!/usr/bin/env python3
"""Trigger charter_booking_pipeline for one booking (or a poll) through Airflow's REST API.

    python3 bin/trigger_booking.py '{"booking_id": "BS-480117", "status": "approved", ...}' --wait
    python3 bin/trigger_booking.py @booking.json        # or - for standard input
    python3 bin/trigger_booking.py --poll               # a manual run that polls the exports

It sends ``POST /api/v2/dags/charter_booking_pipeline/dagRuns`` with ``{"logical_date": null, "conf":
{"booking": {...}}}``, exactly as a REST caller would, so it works the same against the local stack and against a
deployment, from any machine that reaches the API server. Standard library only: no virtualenv needed.

Where and as whom, from the environment:
  AIRFLOW_URL        the API server's base URL (default http://127.0.0.1:8080, the local stack's)
  AIRFLOW_TOKEN      a bearer token; or else
  AIRFLOW_USERNAME, AIRFLOW_PASSWORD   exchanged for a token at POST /auth/token.
  AIRFLOW_RETRY_PAUSE  seconds before the first retry of an HTTP 5xx (default 1; then twice as long each time).
Against the default URL with none of these, it signs in with the local stack's pinned login (admin / admin).

Exit codes: 0 triggered (with --wait: the run succeeded); 1 the run failed (--wait); 2 refused or unreachable.
A refused booking (HTTP 4xx) prints Airflow's answer, which names the field. With --wait, the lines the run left
on its page (a refusal naming the field, "nothing changed", "not applied: ...") are printed with its end. An HTTP
5xx (SQLite's "database is locked" under load) is tried again a few times, saying so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

DAG_ID = "charter_booking_pipeline"
LOCAL_URL = "http://127.0.0.1:8080"
# sandbox/run.py pins this login for the local stack only; a deployment never has it.
LOCAL_LOGIN = ("admin", "admin")
FINISHED = {"success", "failed"}
# An API server under load (SQLite's "database is locked") answers 5xx now and then: try again 4 times, waiting
# 1, 2, 4, then 8 times AIRFLOW_RETRY_PAUSE seconds (default 1).
RETRY_PAUSES = (1, 2, 4, 8)
# The tasks that leave a line on the run's page (their rendered map index: publishing/tasks.py show_on_run).
NOTED_TASKS = ("collect_bookings", "run_summary")


class Refused(Exception):
    """The API server answered 4xx (or 5xx again and again), or could not be reached."""


class ServerError(Exception):
    """The API server answered 5xx: worth another try."""


class AirflowApi:
    """The three calls this needs: a token, a new DAG run, the run's state (and its first task's log)."""

    def __init__(self, url: str, token: str = "", login: tuple[str, str] | None = None, timeout: float = 30) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._token = token
        self._login = login

    def _call(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
        unit = float(os.environ.get("AIRFLOW_RETRY_PAUSE") or 1)
        for pause in (*(unit * factor for factor in RETRY_PAUSES), None):
            try:
                return self._call_once(method, path, body, auth=auth)
            except ServerError as exc:
                if pause is None:
                    raise Refused(str(exc)) from None
                # A trigger that failed with a 5xx made no run (its transaction was rolled back), so sending it
                # again is safe; at worst a booking is processed twice, which changes nothing the second time.
                print(f"trigger_booking: {exc}; trying again in {pause:g} s", file=sys.stderr)
                time.sleep(pause)
        raise AssertionError("unreachable")

    def _call_once(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        request = urllib.request.Request(f"{self.url}{path}", data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                text = answer.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code} from {method} {path}: {_detail(exc.read())}"
            raise (ServerError(error) if exc.code >= 500 else Refused(error)) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise Refused(f"cannot reach {self.url} ({getattr(exc, 'reason', exc)})") from None
        return json.loads(text) if text.strip() else None

    def token(self) -> str:
        if not self._token:
            if self._login is None:
                raise Refused("no credentials: set AIRFLOW_TOKEN, or AIRFLOW_USERNAME and AIRFLOW_PASSWORD")
            username, password = self._login
            answer = self._call("POST", "/auth/token", {"username": username, "password": password}, auth=False)
            self._token = str(answer["access_token"])
        return self._token

    def trigger(self, conf: dict[str, Any]) -> str:
        # Airflow 3 requires logical_date; null means "now". Quoting: run ids hold ':' and '+'.
        answer = self._call("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": conf})
        return str(answer["dag_run_id"])

    def state(self, run_id: str) -> str:
        return str(self._call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{_quote(run_id)}")["state"])

    def run_lines(self, run_id: str) -> list[str]:
        """What the run says on its page in the UI: the line its first and last task left (their rendered map
        index), then, for a failed task that left none, the error its log ends with."""
        run = f"/api/v2/dags/{DAG_ID}/dagRuns/{_quote(run_id)}"
        lines = []
        for task_id in NOTED_TASKS:
            try:
                ti = self._call("GET", f"{run}/taskInstances/{task_id}") or {}
            except Refused:
                continue
            if ti.get("rendered_map_index"):
                lines.append(f"{task_id}: {ti['rendered_map_index']}")
            elif ti.get("state") == "failed":
                lines += [f"{task_id}: {line}" for line in self._errors(run, task_id, int(ti.get("try_number") or 1))]
        return lines

    def _errors(self, run: str, task_id: str, try_number: int) -> list[str]:
        """The exception a failed task's log ends with (Airflow 3 logs it as ``error_detail``)."""
        try:
            log = self._call("GET", f"{run}/taskInstances/{task_id}/logs/{try_number}")
        except Refused:
            return []
        content = log.get("content") if isinstance(log, dict) else None
        events = content if isinstance(content, list) else [content]
        found = []
        for event in events:
            if not isinstance(event, dict):
                continue
            for detail in event.get("error_detail") or []:
                if isinstance(detail, dict) and detail.get("exc_value"):
                    found.append(f"{detail.get('exc_type', 'Error')}: {detail['exc_value']}")
        return found[-1:]

    def run_page(self, run_id: str) -> str:
        return f"{self.url}/dags/{DAG_ID}/runs/{_quote(run_id)}"


def _quote(run_id: str) -> str:
    return urllib.parse.quote(run_id, safe="")


def _detail(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    try:
        detail = json.loads(text).get("detail", text)
    except (ValueError, AttributeError):
        detail = text
    return (detail if isinstance(detail, str) else json.dumps(detail))[:2000]


def read_booking(argument: str) -> dict[str, Any]:
    """The booking from the command line: a JSON object, ``@file`` or ``-`` (standard input)."""
    if argument == "-":
        text = sys.stdin.read()
    elif argument.startswith("@"):
        with open(argument[1:], encoding="utf-8") as file:
            text = file.read()
    else:
        text = argument
    try:
        booking = json.loads(text)
    except ValueError as exc:
        raise Refused(f"the booking is not valid JSON: {exc}") from None
    if isinstance(booking, dict) and set(booking) == {"booking"}:
        booking = booking["booking"]  # a whole conf pasted as it is
    if not isinstance(booking, dict):
        raise Refused('the booking must be a JSON object of fields, e.g. {"booking_id": "BS-480117", ...}')
    return booking


def api_from_environment(environ: dict[str, str]) -> AirflowApi:
    url = environ.get("AIRFLOW_URL") or LOCAL_URL
    if not url.startswith(("http://", "https://")):
        raise Refused(f"AIRFLOW_URL must start with http:// or https://, not {url[:40]!r}")
    username, password = environ.get("AIRFLOW_USERNAME", ""), environ.get("AIRFLOW_PASSWORD", "")
    login = (username, password) if username else LOCAL_LOGIN if url.rstrip("/") == LOCAL_URL else None
    return AirflowApi(url, token=environ.get("AIRFLOW_TOKEN", ""), login=login)


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="trigger_booking.py",
        description=__doc__.split("\n\n")[0],
        epilog="Environment: AIRFLOW_URL, AIRFLOW_TOKEN or AIRFLOW_USERNAME/AIRFLOW_PASSWORD (see the file's top).",
    )
    parser.add_argument("booking", nargs="?", help="the booking: a JSON object, @file.json, or - for stdin")
    parser.add_argument("--poll", action="store_true", help="trigger a run that polls the exports (no booking)")
    parser.add_argument("--wait", action="store_true", help="wait for the run to finish; exit 1 if it failed")
    parser.add_argument("--timeout", type=float, default=900, help="seconds --wait waits at most (default 900)")
    parser.add_argument("--every", type=float, default=3, help="seconds between --wait's looks (default 3)")
    args = parser.parse_args(argv)
    if bool(args.booking) == args.poll:
        parser.error("give either a booking or --poll")
    try:
        api = api_from_environment(dict(os.environ if environ is None else environ))
        conf = {} if args.poll else {"booking": read_booking(args.booking)}
        run_id = api.trigger(conf)
        print(f"triggered {DAG_ID} run {run_id}")
        print(f"  {api.run_page(run_id)}")
        if not args.wait:
            return 0
        deadline = time.monotonic() + args.timeout
        state = api.state(run_id)
        while state not in FINISHED and time.monotonic() < deadline:
            time.sleep(args.every)
            state = api.state(run_id)
        print(f"run {run_id}: {state}")
        if state == "queued":
            print("  still queued: is the DAG paused, or another run of it still going (max_active_runs=1)?")
        if state in FINISHED:
            for line in api.run_lines(run_id):
                print(f"  {line}")
        if state == "failed":
            return 1
        return 0 if state == "success" else 2
    except Refused as exc:
        print(f"trigger_booking: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
