"""Real servers for the hook tests: the scriptable JSON service and moto in server mode.

Connections reach the hooks the way a deployment gives them: ``AIRFLOW_CONN_<ID>`` environment variables.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from tests.hooks.stand_ins import (
    AWS_ACCESS_KEY,
    AWS_SECRET_KEY,
    JADA_TOKEN,
    SCC_KEY,
    SECRETS,
    FakeService,
    Sleeps,
    free_port,
    http_conn_json,
    unique,
)

if TYPE_CHECKING:
    from charter_pipeline.task_runtime import Hooks


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def jada(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeService]:
    service = FakeService(
        collection="calendar",
        key_field="external_id",
        id_field="id",
        header="X-Dashboard-Token",
        header_value=JADA_TOKEN,
    ).start()
    monkeypatch.setenv("AIRFLOW_CONN_JADA_DASHBOARD", http_conn_json(service.url, JADA_TOKEN))
    yield service
    service.stop()


@pytest.fixture
def scc(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeService]:
    service = FakeService(
        collection="events",
        key_field="external_ref",
        id_field="event_id",
        header="Authorization",
        header_value=f"Bearer {SCC_KEY}",
    ).start()
    monkeypatch.setenv("AIRFLOW_CONN_SCC_API", http_conn_json(service.url, SCC_KEY))
    yield service
    service.stop()


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Callable[[], str]:
    """Everything logged so far: stdlib records and the task SDK's structlog lines (written to stdout)."""
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    def text() -> str:
        out, err = capfd.readouterr()
        seen.extend([out, err])
        return "\n".join([*seen, *(record.getMessage() for record in caplog.records)])

    return text


@pytest.fixture(autouse=True)
def no_secret_logged(logged: Callable[[], str]) -> Iterator[None]:
    """Every hook test also proves that nothing it logged holds a secret."""
    yield
    text = logged()
    for secret in SECRETS:
        assert secret not in text


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_conn(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> str:
    """``aws_default`` pointing at the moto server through its ``endpoint_url`` extra, as CONTRACT.md allows."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps(
            {
                "conn_type": "aws",
                "login": AWS_ACCESS_KEY,
                "password": AWS_SECRET_KEY,
                "extra": {"endpoint_url": moto_url, "region_name": "us-east-1"},
            }
        ),
    )
    return "aws_default"


@pytest.fixture
def aws_client(aws_conn: str, moto_url: str) -> Any:
    """A plain boto3 client factory against moto, for arranging and inspecting what the hooks did."""
    import boto3

    def make(service: Any) -> Any:
        return boto3.client(
            service,
            endpoint_url=moto_url,
            region_name="us-east-1",
            aws_access_key_id=AWS_ACCESS_KEY,
            aws_secret_access_key=AWS_SECRET_KEY,
        )

    return make


@pytest.fixture
def ledger_table(aws_client: Callable[[str], Any]) -> str:
    """A fresh, empty ledger table on moto, keyed as CONTRACT.md section 2 says (``booking_id``, S): its name."""
    name = unique("ledger")
    aws_client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "booking_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "booking_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@pytest.fixture
def ledger(ledger_table: str) -> Hooks:
    """The task's hooks with a fresh ledger table (its stores: ``records``, ``aftercare``, ``drift_reports``...)."""
    from charter_pipeline.config import load_config
    from charter_pipeline.task_runtime import Hooks

    return Hooks.from_config(load_config({"ledger_table": ledger_table}))


@pytest.fixture
def proxy(aws_client: Callable[[str], Any], moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``aws_default`` through the sandbox's AWS proxy (faults on demand, every request counted)."""
    from sandbox.aws import AwsProxy

    with AwsProxy(moto_url) as aws:
        extra = {"endpoint_url": aws.url, "region_name": "us-east-1"}
        conn = {"conn_type": "aws", "login": AWS_ACCESS_KEY, "password": AWS_SECRET_KEY, "extra": extra}
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
        yield aws


@pytest.fixture
def botocore_waits(monkeypatch: pytest.MonkeyPatch) -> Sleeps:
    """botocore's waits between its retries, recorded instead of slept."""
    import botocore.endpoint

    waits = Sleeps()
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=waits))
    return waits
