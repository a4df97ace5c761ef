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
Against the default URL with none of these, it signs in with the local stack's pinned login (admin / admin).

Exit codes: 0 triggered (with --wait: the run succeeded); 1 the run failed (--wait); 2 refused or unreachable.
A refused booking (HTTP 4xx) prints Airflow's answer, which names the field.
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


class Refused(Exception):
    """The API server answered 4xx/5xx, or could not be reached."""


class AirflowApi:
    """The three calls this needs: a token, a new DAG run, the run's state (and its first task's log)."""

    def __init__(self, url: str, token: str = "", login: tuple[str, str] | None = None, timeout: float = 30) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._token = token
        self._login = login

    def _call(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
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
            raise Refused(f"HTTP {exc.code} from {method} {path}: {_detail(exc.read())}") from None
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

    def refusal_lines(self, run_id: str) -> list[str]:
        """The lines of collect_bookings' log that say why a manual booking was refused (best effort)."""
        try:
            log = self._call(
                "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{_quote(run_id)}/taskInstances/collect_bookings/logs/1"
            )
        except Refused:
            return []
        content = log.get("content") if isinstance(log, dict) else None
        events = content if isinstance(content, list) else [content]
        lines = [str(e.get("event", "")) if isinstance(e, dict) else str(e) for e in events if e]
        return [line for line in lines if "refused" in line.lower()]

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
        if state == "failed":
            for line in api.refusal_lines(run_id):
                print(f"  {line}")
            return 1
        return 0 if state == "success" else 2
    except Refused as exc:
        print(f"trigger_booking: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
