"""SandboxStack: the connections it hands to Airflow, its boto3 clients, its state dir, and the service CLIs."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from sandbox.jada import JadaCalendar
from sandbox.stack import SandboxStack

REPO = Path(__file__).resolve().parents[2]


def test_connections_env_points_the_three_connections_at_the_stack(stack: SandboxStack) -> None:
    env = stack.connections_env()

    aws = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    jada = json.loads(env["AIRFLOW_CONN_JADA_DASHBOARD"])
    scc = json.loads(env["AIRFLOW_CONN_SCC_API"])
    assert aws == {
        "conn_type": "aws",
        "login": stack.aws_access_key_id,
        "password": stack.aws_secret_access_key,
        "extra": {"endpoint_url": stack.aws_url, "region_name": "us-east-1"},
    }
    assert jada == {"conn_type": "http", "host": stack.jada_url, "password": stack.dashboard_token}
    assert scc == {"conn_type": "http", "host": stack.scc_url, "password": stack.scc_service_key}
    assert stack.scc_url.endswith("/prod")
    assert stack.aws_url != stack.moto_url
    token = requests.get(jada["host"] + "/calendar", headers={"X-Dashboard-Token": jada["password"]}, timeout=5)
    key = requests.get(scc["host"] + "/events", headers={"Authorization": f"Bearer {scc['password']}"}, timeout=5)
    assert (token.status_code, key.status_code) == (200, 200)


def test_default_secrets_are_distinctive_and_kept_out_of_state_and_stack_json(stack: SandboxStack) -> None:
    secrets = [stack.dashboard_token, stack.scc_service_key, stack.aws_access_key_id, stack.aws_secret_access_key]
    requests.get(stack.jada_url + "/calendar", headers={"X-Dashboard-Token": stack.dashboard_token}, timeout=5)

    described = (stack.state_dir / "stack.json").read_text()
    state = json.dumps(stack.state(), default=str)

    assert len(set(secrets)) == 4
    assert all(len(secret) >= 16 for secret in secrets)
    assert json.loads(described)["jada_url"] == stack.jada_url
    for secret in secrets:
        assert secret not in described
        assert secret not in state


def test_boto3_client_talks_to_moto_directly_so_the_proxy_counts_only_the_pipeline(stack: SandboxStack) -> None:
    s3 = stack.boto3_client("s3")
    s3.create_bucket(Bucket="direct-bucket-check")

    assert "direct-bucket-check" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert stack.aws.call_counts() == {}
    assert stack.boto3_client("s3") is s3


def test_unknown_port_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="calendar"):
        SandboxStack(tmp_path, ports={"calendar": 5056})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_given_port_is_used_and_stop_releases_it(tmp_path: Path) -> None:
    port = _free_port()

    with SandboxStack(tmp_path, ports={"jada": port}, dashboard_token="another-token-for-this-test") as stack:
        assert stack.jada_url == f"http://127.0.0.1:{port}"
        refused = requests.get(stack.jada_url + "/calendar", headers={"X-Dashboard-Token": "sandbox"}, timeout=5)
        assert refused.status_code == 401

    with JadaCalendar(port=port) as again:
        assert again.port == port


def test_the_service_clis_serve_until_terminated(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "SANDBOX_DASHBOARD_TOKEN": "cli-token-for-this-test"}
    commands = {
        "jada": ["-m", "sandbox.jada", "--port", "0"],
        "scc": ["-m", "sandbox.scc", "--port", "0", "--state-dir", str(tmp_path)],
        "aws": ["-m", "sandbox.aws", "--port", "0"],
    }
    processes = {
        name: subprocess.Popen([sys.executable, *args], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
        for name, args in commands.items()
    }
    try:
        banners = {name: process.stdout.readline() if process.stdout else "" for name, process in processes.items()}
        urls = {name: re.findall(r"http://127\.0\.0\.1:\d+\S*", banner) for name, banner in banners.items()}

        calendar = requests.get(
            urls["jada"][0] + "/calendar", headers={"X-Dashboard-Token": "cli-token-for-this-test"}, timeout=5
        )
        outside_stage = requests.get(urls["scc"][0].removesuffix("/prod") + "/events", timeout=5)
        proxy_state = requests.get(urls["aws"][0] + "/_sandbox/state", timeout=5)

        assert calendar.json() == {"items": []}
        assert outside_stage.status_code == 403
        assert proxy_state.json()["upstream"] == urls["aws"][1]
    finally:
        for process in processes.values():
            process.terminate()
    assert [process.wait(timeout=10) for process in processes.values()] == [0, 0, 0]
