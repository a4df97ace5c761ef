"""The production deployment files: docker-compose.yaml, Dockerfile and .env.example.

No Docker engine here, so these check structure: the Compose specification's JSON schema (as shipped by
check-jsonschema), the services and their health checks, the image, the mounts, and that .env.example and the
compose file agree with each other and with the pipeline's contract.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from dotenv import dotenv_values

from charter_pipeline.config import VARIABLE_KEY, load_config

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
ENV_EXAMPLE = REPO / ".env.example"

AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
}
ONE_SHOT = {"airflow-init"}
# CONTRACT.md section 1: how a deployment names its connections, its Variable and its schedule.
PIPELINE_SETTINGS = {
    "AIRFLOW_CONN_AWS_DEFAULT",
    "AIRFLOW_CONN_JADA_DASHBOARD",
    "AIRFLOW_CONN_SCC_API",
    "AIRFLOW_VAR_CHARTER_PIPELINE",
    "CHARTER_POLL_SCHEDULE",
}
SECRETS = {
    "POSTGRES_PASSWORD",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
    "_AIRFLOW_WWW_USER_USERNAME",
    "_AIRFLOW_WWW_USER_PASSWORD",
}
# Filled by sandbox/topology.py with its loopback addresses; in compose their defaults are the service names.
LAUNCHER_HOSTS = {"POSTGRES_HOST", "REDIS_HOST", "AIRFLOW_API_HOST"}
# ${NAME}, ${NAME:-default}, ${NAME:?error}; "$${NAME}" is an escaped dollar for the container's shell.
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return {name: value or "" for name, value in dotenv_values(ENV_EXAMPLE, interpolate=False).items()}


def _compose_schema() -> dict[str, Any]:
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads((vendor / "compose-spec.json").read_text())
    return schema


def _schema_errors(document: dict[str, Any]) -> list[str]:
    schema = _compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    assert _schema_errors(compose) == []


def test_the_schema_check_catches_a_misspelt_key(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["airflow-worker"]["helthcheck"] = broken["services"]["airflow-worker"].pop("healthcheck")

    assert any("helthcheck" in error for error in _schema_errors(broken))


def test_every_service_of_a_celery_deployment_is_there(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == AIRFLOW_SERVICES | {"postgres", "redis"}
    for name in AIRFLOW_SERVICES:
        assert compose["services"][name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name


def test_every_long_running_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name in ONE_SHOT:
            continue
        check = service.get("healthcheck", {})
        assert check.get("test"), name
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert check.get("interval"), name
        assert check.get("retries"), name
        assert service.get("restart") == "always", name


def test_airflow_waits_for_healthy_storage_and_a_finished_init(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in AIRFLOW_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"] == {"condition": "service_healthy"}, name
        assert depends["redis"] == {"condition": "service_healthy"}, name
        if name not in ONE_SHOT:
            assert depends["airflow-init"] == {"condition": "service_completed_successfully"}, name
    # Workers reach the Execution API on the API server.
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"] == {"condition": "service_healthy"}
    assert services["airflow-init"]["restart"] == "no"


def test_airflow_runs_the_extended_image_with_the_pipeline_mounted(compose: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        service = compose["services"][name]
        assert service["build"] == {"context": ".", "dockerfile": "Dockerfile"}, name
        mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in service["volumes"]}
        assert mounts == {
            "./dags": "/opt/airflow/dags",
            "./plugins": "/opt/airflow/plugins",
            "./include": "/opt/airflow/include",
            "./config": "/opt/airflow/config",
            "./logs": "/opt/airflow/logs",
        }, name
        assert service["env_file"] == [{"path": ".env", "required": True}], name


def test_the_workers_can_be_scaled(compose: dict[str, Any]) -> None:
    # `docker compose up --scale airflow-worker=N` refuses a fixed container name or a published port.
    worker = compose["services"]["airflow-worker"]
    assert "container_name" not in worker
    assert "ports" not in worker


def test_nothing_is_pip_installed_at_container_start(compose: dict[str, Any]) -> None:
    for path in (COMPOSE, DOCKERFILE, ENV_EXAMPLE):
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in path.read_text(), path.name
    for name, service in compose["services"].items():
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in service.get("environment", {}), name


def test_the_dockerfile_extends_the_official_image_with_the_lock() -> None:
    pinned = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements.txt").read_text(), re.MULTILINE)
    assert pinned, "requirements.txt pins no apache-airflow"
    version = pinned.group(1)
    instructions = [line for line in DOCKERFILE.read_text().splitlines() if line and not line.startswith("#")]

    assert instructions[0] == f"FROM apache/airflow:{version}-python3.11"
    assert any(re.match(r"COPY requirements\.txt \S+", line) for line in instructions)
    (install,) = [line for line in instructions if line.startswith("RUN pip install")]
    assert f'"apache-airflow=={version}"' in install
    assert re.search(r"-r \S*requirements\.txt", install)


def test_env_example_documents_every_setting_the_compose_file_reads(
    compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    interpolated = {match.group(1) for match in INTERPOLATION.finditer(COMPOSE.read_text())}

    assert interpolated - LAUNCHER_HOSTS <= set(env_example)
    assert set(env_example) >= PIPELINE_SETTINGS


def test_every_setting_env_example_promises_is_read_by_something(env_example: dict[str, str]) -> None:
    interpolated = {match.group(1) for match in INTERPOLATION.finditer(COMPOSE.read_text())}
    package = "\n".join(p.read_text() for p in (REPO / "plugins" / "charter_pipeline").rglob("*.py"))
    dags = "\n".join(p.read_text() for p in (REPO / "dags").glob("*.py"))

    for name in set(env_example) - interpolated:
        if name.startswith("AIRFLOW_CONN_"):
            assert f'"{name.removeprefix("AIRFLOW_CONN_").lower()}"' in package, f"{name}: no code uses the conn id"
        elif name.startswith("AIRFLOW_VAR_"):
            assert name.removeprefix("AIRFLOW_VAR_").lower() == VARIABLE_KEY, name
        else:
            # The schedules (and the exports queue) are read where the DAG files are parsed.
            assert name.startswith("CHARTER_"), f"{name}: not a setting of this package"
            assert f'"{name}"' in dags + package, f"{name}: nothing reads it"


def test_the_secrets_have_no_defaults_and_stop_compose_when_missing() -> None:
    text = COMPOSE.read_text()
    for name in SECRETS:
        forms = {m.group(2) or "" for m in INTERPOLATION.finditer(text) if m.group(1) == name}
        assert forms, f"{name} is never used"
        assert all(form.startswith(":?") for form in forms), f"{name} must be ${{{name}:?...}}, got {forms}"


def test_env_example_connections_are_airflow_json_connections(env_example: dict[str, str]) -> None:
    # The Task SDK's Connection is what a running task builds from an AIRFLOW_CONN_* value.
    from airflow.sdk import Connection

    aws = Connection.from_json(env_example["AIRFLOW_CONN_AWS_DEFAULT"], conn_id="aws_default")
    assert aws.conn_type == "aws"
    assert aws.extra_dejson["region_name"]

    for conn_id in ("jada_dashboard", "scc_api"):
        conn = Connection.from_json(env_example[f"AIRFLOW_CONN_{conn_id.upper()}"], conn_id=conn_id)
        assert conn.conn_type == "http", conn_id
        assert (conn.host or "").startswith("https://"), conn_id
        assert conn.password, conn_id

    # CONTRACT.md section 1: the API Gateway URL with its stage, never the CloudFront domain.
    scc = json.loads(env_example["AIRFLOW_CONN_SCC_API"])["host"]
    assert ".execute-api." in scc
    assert "cloudfront.net" not in scc
    assert scc.rstrip("/").rsplit("/", 1)[-1] == "prod"


def test_env_example_variable_is_a_valid_charter_pipeline_setting(env_example: dict[str, str]) -> None:
    config = load_config(env_example["AIRFLOW_VAR_CHARTER_PIPELINE"])

    assert config.cloudfront_distribution_id
    assert config.crew_for_boat("any boat").captain is not None
    assert env_example["CHARTER_POLL_SCHEDULE"] == "*/15 * * * *"


def test_the_real_env_file_is_git_ignored() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO, check=False)
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", ".env.example"], cwd=REPO, capture_output=True)

    assert ignored.returncode == 0
    assert tracked.returncode == 0


# The native topology (sandbox/topology.py, `make run-celery`, tests/deployment) and compose: one set of settings.


def _native_environment(tmp_path: Path, executor: str = "celery") -> tuple[dict[str, str], dict[str, str]]:
    from sandbox.topology import Topology, shared_settings

    values = {
        "AIRFLOW_API_HOST": "127.0.0.1:18080",
        "POSTGRES_PASSWORD": "pw",
        "POSTGRES_HOST": "127.0.0.1:15432",
        "REDIS_HOST": "127.0.0.1:16379",
    }
    topology = Topology(executor, home=tmp_path)  # type: ignore[arg-type]
    env = topology.component_environment(values)
    fill = {**values, **{name: env[name] for name in SECRETS if name in env}}
    return env, shared_settings(fill)


def test_the_native_topology_runs_with_every_airflow_setting_of_the_compose_file(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    from sandbox.topology import NATIVE_ONLY

    env, settings = _native_environment(tmp_path)

    assert set(settings) == set(compose["x-airflow-common"]["environment"])
    differing = {name for name, value in settings.items() if env.get(name) != value}
    assert differing == set(NATIVE_ONLY) & set(settings), differing
    # The values compose fills from its services reach the loopback stand-ins here, and nothing is left unfilled.
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://airflow:pw@127.0.0.1:15432/airflow"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:16379/0"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert not [name for name, value in env.items() if name.startswith("AIRFLOW") and "${" in value]
    # Parallelism and the dead-worker timeouts are compose's, not the launcher's own.
    for name in ("AIRFLOW__CORE__PARALLELISM", "AIRFLOW__CELERY__WORKER_CONCURRENCY"):
        assert env[name] == str(compose["x-airflow-common"]["environment"][name]), name


def test_compose_fills_the_launcher_hosts_with_its_service_names() -> None:
    from sandbox.topology import shared_settings

    settings = shared_settings({name: f"<{name}>" for name in SECRETS})

    assert settings["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
    assert settings["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0"
    assert settings["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"


def test_the_local_executor_topology_changes_only_the_executor_and_the_database(tmp_path: Path) -> None:
    from sandbox.topology import NATIVE_ONLY

    env, settings = _native_environment(tmp_path, "local")

    differing = {name for name, value in settings.items() if env.get(name) != value}
    celery = {name for name in settings if name.startswith("AIRFLOW__CELERY")}
    expected = {"AIRFLOW__CORE__EXECUTOR", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"} | celery
    assert differing == expected | (set(NATIVE_ONLY) & set(settings))
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite:///")


def test_the_image_gets_the_versions_this_venv_runs() -> None:
    # The Dockerfile installs requirements.txt; .venv/ is synced from the same lock, so every pin must be what is
    # installed here (the topology tests then prove the versions the image runs).
    from importlib.metadata import PackageNotFoundError, version

    pins = re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)", (REPO / "requirements.txt").read_text(), re.MULTILINE)
    assert len(pins) > 100
    wrong = []
    for name, pinned in pins:
        try:
            installed = version(name.split("[")[0])
        except PackageNotFoundError:
            installed = "missing"
        if installed != pinned:
            wrong.append(f"{name}: lock {pinned}, installed {installed}")
    assert wrong == []
    for name in ("apache-airflow", "apache-airflow-providers-celery", "apache-airflow-providers-postgres", "celery"):
        assert any(pin == name for pin, _ in pins), name
