"""A real ``airflow api-server`` with this repo's plugins, on a free loopback port, signed in with a pinned password.

One per test module (about 15 s to start); stopped by its process group, also when a test fails.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from sandbox.run import airflow_env
from tests.e2e.harness import AIRFLOW, REPO, migrated_home

USER = "staff"


@dataclass(frozen=True)
class ApiServer:
    url: str
    password: str
    log: Path

    def token(self) -> str:
        answer = requests.post(f"{self.url}/auth/token", json={"username": USER, "password": self.password}, timeout=30)
        answer.raise_for_status()
        return str(answer.json()["access_token"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def api_server(
    home: Path, *, connections: Mapping[str, str], variable: Mapping[str, Any], extra: Mapping[str, str] | None = None
) -> Iterator[ApiServer]:
    migrated_home(home)
    port = free_port()
    password = secrets.token_urlsafe(12)
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({USER: password}))
    url = f"http://127.0.0.1:{port}"
    env = airflow_env(
        home,
        connections=connections,
        variable=variable,
        extra={
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API__BASE_URL": url,
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(24),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(24),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            **(extra or {}),
        },
    )
    log = home / "api-server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"api-server exited {process.returncode}: {log.read_text()[-3000:]}")
            try:
                if requests.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"api-server not healthy in 120 s: {log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield ApiServer(url, password, log)
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
