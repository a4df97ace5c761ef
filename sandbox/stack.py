"""The whole local stack in one object: moto, the AWS proxy, the JADA calendar, ShipCaptainCrew and the
operations desk's alert receiver.

    with SandboxStack(tmp_path) as stack:
        env = stack.connections_env()   # AIRFLOW_CONN_AWS_DEFAULT, _JADA_DASHBOARD, _SCC_API, _OPS_ALERTS
        stack.jada.inject(method="POST", path="/calendar", mode="lose_answer")
        stack.aws.too_many_invalidations(count=2)

Ports default to 0 (a free one each), so tests can run stacks side by side; note that moto keeps its AWS data per
process, so two stacks in one process see the same buckets and tables. The secrets default to distinctive strings
so a test can scan logs, pages and XComs for them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from sandbox.alerts import DEFAULT_ALERTS_TOKEN, AlertReceiver
from sandbox.aws import DEFAULT_AWS_ACCESS_KEY_ID, DEFAULT_AWS_SECRET_ACCESS_KEY, REGION, AwsProxy, MotoServer
from sandbox.jada import DEFAULT_DASHBOARD_TOKEN, JadaCalendar
from sandbox.scc import DEFAULT_EVENTS_TABLE, DEFAULT_SERVICE_KEY, OUTBOX_FILE, ShipCaptainCrew
from sandbox.webhook import DEFAULT_WEBHOOK_SECRET, WebhookReceiver

PORT_KEYS = ("moto", "aws", "jada", "scc", "alerts", "webhook")
STACK_FILE = "stack.json"


class SandboxStack:
    """moto, the AWS proxy in front of it, JADA and SCC, on loopback; a context manager or start()/stop().

    Attributes once started: ``aws_url`` (the proxy, what ``aws_default`` uses), ``moto_url`` (moto itself),
    ``jada_url``, ``scc_url`` (with its stage), ``alerts_url``, and the service objects ``moto``, ``aws``, ``jada``,
    ``scc``, ``alerts`` for state, faults and call counts; ``webhook`` (sandbox/webhook.py) serves the booking
    webhook once ``webhook.deliver_to(exports_uri)`` is called.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        ports: Mapping[str, int] | None = None,
        dashboard_token: str = DEFAULT_DASHBOARD_TOKEN,
        scc_service_key: str = DEFAULT_SERVICE_KEY,
        aws_access_key_id: str = DEFAULT_AWS_ACCESS_KEY_ID,
        aws_secret_access_key: str = DEFAULT_AWS_SECRET_ACCESS_KEY,
        scc_events_table: str = DEFAULT_EVENTS_TABLE,
        alerts_token: str = DEFAULT_ALERTS_TOKEN,
        webhook_secrets: str = DEFAULT_WEBHOOK_SECRET,
        host: str = "127.0.0.1",
    ) -> None:
        unknown = sorted(set(ports or {}) - set(PORT_KEYS))
        if unknown:
            raise ValueError(f"ports: unknown key(s) {', '.join(unknown)} (known: {', '.join(PORT_KEYS)})")
        self.state_dir = Path(state_dir)
        self.ports = {key: int((ports or {}).get(key, 0)) for key in PORT_KEYS}
        self.dashboard_token = dashboard_token
        self.scc_service_key = scc_service_key
        self.aws_access_key_id = aws_access_key_id
        self.aws_secret_access_key = aws_secret_access_key
        self.scc_events_table = scc_events_table
        self.region = REGION
        self.host = host
        self.moto = MotoServer(host=host, port=self.ports["moto"])
        self.jada = JadaCalendar(token=dashboard_token, host=host, port=self.ports["jada"])
        self.alerts_token = alerts_token
        self.alerts = AlertReceiver(token=alerts_token, host=host, port=self.ports["alerts"])
        self._aws: AwsProxy | None = None
        self._scc: ShipCaptainCrew | None = None
        self.webhook_secrets = webhook_secrets
        self._webhook: WebhookReceiver | None = None
        self._running: list[Any] = []
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()

    # lifecycle

    def start(self) -> Self:
        """Start moto, then the proxy and the two services; on any failure stop what was started."""
        if self._running:
            return self
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._running.append(self.moto.start())
            self._aws = AwsProxy(self.moto.url, host=self.host, port=self.ports["aws"])
            self._running.append(self._aws.start())
            self._running.append(self.jada.start())
            self._scc = ShipCaptainCrew(
                service_key=self.scc_service_key,
                dynamodb_endpoint=self.moto.url,
                events_table=self.scc_events_table,
                aws_access_key_id=self.aws_access_key_id,
                aws_secret_access_key=self.aws_secret_access_key,
                region=self.region,
                outbox_path=self.state_dir / OUTBOX_FILE,
                host=self.host,
                port=self.ports["scc"],
            )
            self._running.append(self._scc.start())
            self._running.append(self.alerts.start())
            # The booking webhook (CONTRACT.md section 14): 503 until webhook.deliver_to names the exports.
            self._webhook = WebhookReceiver(secrets=self.webhook_secrets, host=self.host, port=self.ports["webhook"])
            self._webhook.use_aws(self.aws_url, access_key_id=self.aws_access_key_id,
                                  secret_access_key=self.aws_secret_access_key, region=self.region)  # fmt: skip
            self._webhook.start()
            self._running.append(self._webhook)
        except BaseException:
            self.stop()
            raise
        (self.state_dir / STACK_FILE).write_text(json.dumps(self.describe(), indent=2) + "\n", encoding="utf-8")
        return self

    def stop(self) -> None:
        """Stop everything, newest first."""
        while self._running:
            self._running.pop().stop()
        with self._clients_lock:
            self._clients.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # where things are

    @property
    def aws(self) -> AwsProxy:
        if self._aws is None:
            raise RuntimeError("the sandbox stack is not started")
        return self._aws

    @property
    def scc(self) -> ShipCaptainCrew:
        if self._scc is None:
            raise RuntimeError("the sandbox stack is not started")
        return self._scc

    @property
    def webhook(self) -> WebhookReceiver:
        if self._webhook is None:
            raise RuntimeError("the sandbox stack is not started")
        return self._webhook

    @property
    def aws_url(self) -> str:
        return self.aws.url

    @property
    def moto_url(self) -> str:
        return self.moto.url

    @property
    def jada_url(self) -> str:
        return self.jada.url

    @property
    def scc_url(self) -> str:
        return self.scc.url

    @property
    def alerts_url(self) -> str:
        return self.alerts.url

    def describe(self) -> dict[str, Any]:
        """Where each part listens (no secrets): what ``stack.json`` in the state dir holds."""
        return {
            "aws_url": self.aws_url,
            "moto_url": self.moto_url,
            "jada_url": self.jada_url,
            "scc_url": self.scc_url,
            "alerts_url": self.alerts_url,
            "webhook_url": self.webhook.url + "/",
            "region": self.region,
            "scc_events_table": self.scc_events_table,
            "scc_outbox": str(self.state_dir / OUTBOX_FILE),
        }

    def connections_env(self) -> dict[str, str]:
        """The ``AIRFLOW_CONN_*`` variables that point the pipeline's connections at this stack."""
        return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(fields) for conn_id, fields in self.connections().items()}

    def connections(self) -> dict[str, dict[str, Any]]:
        """The pipeline's connections to this stack, by conn id, in the JSON form ``airflow connections import``
        reads (the local stack keeps them in Airflow's metadata database, where the UI lists and edits them)."""
        aws = {
            "conn_type": "aws",
            "login": self.aws_access_key_id,
            "password": self.aws_secret_access_key,
            "extra": {"endpoint_url": self.aws_url, "region_name": self.region},
        }
        jada = {"conn_type": "http", "host": self.jada_url, "password": self.dashboard_token}
        scc = {"conn_type": "http", "host": self.scc_url, "password": self.scc_service_key}
        alerts = {"conn_type": "http", "host": self.alerts_url, "password": self.alerts_token}
        return {"aws_default": aws, "jada_dashboard": jada, "scc_api": scc, "ops_alerts": alerts}

    def boto3_client(self, service_name: str) -> Any:
        """A boto3 client on moto directly (not counted by the proxy), with the stack's keys.

        Clients are made once per service and shared (boto3 clients are thread-safe; making one costs ~0.2 s).
        """
        with self._clients_lock:
            if service_name not in self._clients:
                import boto3
                from botocore.config import Config

                self._clients[service_name] = boto3.session.Session().client(
                    service_name,  # type: ignore[call-overload]
                    endpoint_url=self.moto_url,
                    region_name=self.region,
                    aws_access_key_id=self.aws_access_key_id,
                    aws_secret_access_key=self.aws_secret_access_key,
                    config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"}),
                )
            return self._clients[service_name]

    # everything at once

    def state(self) -> dict[str, Any]:
        """Each service's ``state()``."""
        return {
            "jada": self.jada.state(),
            "scc": self.scc.state(),
            "aws": self.aws.state(),
            "alerts": self.alerts.state(),
        }

    def reset(self, *, aws_data: bool = False) -> None:
        """Forget the services' data, faults and logs; with ``aws_data`` also every AWS resource in moto."""
        self.jada.reset()
        self.scc.reset()
        self.alerts.reset()
        self.aws.reset()
        if aws_data:
            self.moto.reset()
            self.scc.ensure_table()
