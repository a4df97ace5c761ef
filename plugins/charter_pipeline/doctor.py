"""The connection doctor: every connection and resource CONTRACT.md names, checked with harmless reads.

``make doctor`` prints one line per check (``ok``, ``warn`` or ``FAIL``), a cause and a fix for each failure, and
exits 1 when anything failed; the "Charter bookings" page shows the same lines to a signed-in user. Nothing here
writes anywhere, and no line carries a secret: AWS failures are named by their error code, the HTTP services by
the hooks' own redacted messages.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from charter_pipeline.config import VARIABLE_KEY, ConfigError, PipelineConfig, load_config

QUEUE_ENV = "CHARTER_EXPORTS_QUEUE_URL"
# A doctor answers in seconds: two tries, short timeouts (the pipeline's own policy waits much longer).
_QUICK_TIMEOUTS = (3.0, 10.0)


@dataclass(frozen=True)
class Finding:
    """One check's outcome. ``ok`` None is a warning: worth knowing, not a failure."""

    check: str
    ok: bool | None
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = {True: "ok  ", None: "warn", False: "FAIL"}[self.ok]
        text = f"{mark}  {self.check}: {self.detail.rstrip('.')}"
        return f"{text}. Fix: {self.fix}" if self.fix and self.ok is not True else text


def read_variable() -> tuple[str | dict[str, Any] | None, str]:
    """The ``charter_pipeline`` Variable as Airflow would give it, and where it came from."""
    value = os.environ.get(f"AIRFLOW_VAR_{VARIABLE_KEY.upper()}")
    if value is not None:
        return value, f"AIRFLOW_VAR_{VARIABLE_KEY.upper()}"
    try:
        from airflow.models.variable import Variable

        stored = Variable.get(VARIABLE_KEY, default_var=None)
    except Exception as exc:  # no metadata database here: say so, check the defaults
        return None, f"the defaults (the metadata database is not readable: {type(exc).__name__})"
    return stored, "the metadata database" if stored is not None else "the defaults (no Variable set)"


def _aws_client(service: str, conn_id: str) -> Any:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": 2},
        connect_timeout=_QUICK_TIMEOUTS[0],
        read_timeout=_QUICK_TIMEOUTS[1],
    )
    return AwsBaseHook(aws_conn_id=conn_id, client_type=service, config=config).get_conn()


def _aws_cause(exc: Exception) -> str:
    from charter_pipeline.hooks.policy import AWS_AUTH_CODES, aws_error_code

    code = aws_error_code(exc)
    if code in AWS_AUTH_CODES:
        return f"AWS refused the credentials ({code})"
    return code or type(exc).__name__


class Doctor:
    """Runs the checks against one deployment's config and connections."""

    def __init__(self, config: PipelineConfig, *, aws_conn_id: str = "aws_default", usable: bool = True) -> None:
        self.config = config
        self.usable = usable  # False: config holds the defaults because the Variable is unusable
        self.aws_conn_id = aws_conn_id
        self.aws_ok = True
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = _aws_client(service, self.aws_conn_id)
        return self._clients[service]

    def findings(self) -> Iterator[Finding]:
        config = self.config
        checks: list[tuple[str, Callable[[], Finding]]] = [
            ("AWS", self.aws),
            ("ledger table", lambda: self.table("ledger table", config.ledger_table, "booking_id")),
            ("SCC events table", lambda: self.table("SCC events table", config.scc_events_table, "event_id")),
            ("guest bucket", lambda: self.bucket("guest bucket", config.guest_bucket)),
            ("exports location", lambda: self.location("exports location", config.exports_uri)),
            ("quarantine location", lambda: self.location("quarantine location", config.quarantine_uri)),
            ("CloudFront distribution", self.distribution),
            ("exports queue", self.queue),
            ("jada_dashboard", lambda: self.service("jada_dashboard", "token")),
            ("scc_api", lambda: self.service("scc_api", "service key")),
            ("scc_api host", self.scc_host),
            ("ops_alerts", self.ops_alerts),
        ]
        for name, check in checks:
            try:
                yield check()
            except Exception as exc:  # a check that breaks is a failed check, never a traceback
                yield Finding(name, False, f"could not be checked: {type(exc).__name__}", "see the api-server log")

    def blocked(self, name: str) -> Finding | None:
        """The line for a resource that cannot be checked because an earlier line failed."""
        if not self.usable:
            return Finding(name, False, "not checked: the Variable is not usable", "fix the Variable line above first")
        if not self.aws_ok:
            return Finding(name, False, "not checked: AWS is not reachable", "fix the AWS line above first")
        return None

    # --- AWS ---------------------------------------------------------------------------------------------------
    def aws(self) -> Finding:
        name = f"AWS ({self.aws_conn_id})"
        try:
            identity = self.client("sts").get_caller_identity()
        except Exception as exc:
            self.aws_ok = False
            return Finding(
                name,
                False,
                f"not reachable: {_aws_cause(exc)}",
                f"check {self.aws_conn_id}'s access key (login/password) and its extra region_name and endpoint_url",
            )
        return Finding(name, True, f"reachable as account {identity.get('Account', '?')}")

    def table(self, what: str, table: str, key: str) -> Finding:
        name = f"{what} {table!r}"
        if blocked := self.blocked(name):
            return blocked
        try:
            described = self.client("dynamodb").describe_table(TableName=table)["Table"]
        except Exception as exc:
            return Finding(
                name,
                False,
                f"cannot be read: {_aws_cause(exc)}",
                f"create it with partition key {key} (S) (make bootstrap does), or name the right table in the "
                f"{VARIABLE_KEY} Variable",
            )
        schema = [(k["AttributeName"], k["KeyType"]) for k in described.get("KeySchema", [])]
        types = {a["AttributeName"]: a["AttributeType"] for a in described.get("AttributeDefinitions", [])}
        if schema != [(key, "HASH")] or types.get(key) != "S":
            found = ", ".join(f"{n} ({t}, {types.get(n, '?')})" for n, t in schema) or "none"
            return Finding(
                name,
                False,
                f"has key {found}; the pipeline needs partition key {key} (S) and no sort key",
                "point the Variable at a table with that key; a key cannot be changed, so create a new table",
            )
        return Finding(name, True, f"exists, partition key {key} (S)")

    def bucket(self, what: str, bucket: str) -> Finding:
        name = f"{what} {bucket!r}"
        if blocked := self.blocked(name):
            return blocked
        try:
            self.client("s3").head_bucket(Bucket=bucket)
        except Exception as exc:
            cause = _aws_cause(exc)
            if cause in ("404", "NoSuchBucket"):
                cause = "no such bucket"
            return Finding(name, False, f"cannot be read: {cause}", "create it (make bootstrap does) or fix the name")
        return Finding(name, True, "exists")

    def location(self, what: str, uri: str) -> Finding:
        from charter_pipeline.hooks.exports import Location

        location = Location.parse(uri)
        if location.scheme == "s3":
            found = self.bucket(what, location.bucket)
            return Finding(f"{what} {uri}", found.ok, found.detail, found.fix)
        folder = location.prefix
        if blocked := self.blocked(f"{what} {uri}"):
            return blocked
        if os.path.isdir(folder):
            return Finding(f"{what} {uri}", True, "folder exists")
        return Finding(f"{what} {uri}", False, "no such folder", f"create {folder} (make bootstrap does)")

    def distribution(self) -> Finding:
        distribution_id = self.config.cloudfront_distribution_id
        if not distribution_id:
            return Finding(
                "CloudFront distribution",
                None,
                "cloudfront_distribution_id is empty: guest pages are never invalidated, so CloudFront may serve an "
                "old page until its cache expires",
                f"set cloudfront_distribution_id in the {VARIABLE_KEY} Variable",
            )
        name = f"CloudFront distribution {distribution_id}"
        if blocked := self.blocked(name):
            return blocked
        try:
            answer = self.client("cloudfront").get_distribution(Id=distribution_id)
        except Exception as exc:
            return Finding(
                name,
                False,
                f"cannot be read: {_aws_cause(exc)}",
                "name the guest site's distribution id in the Variable",
            )
        return Finding(name, True, f"exists ({answer['Distribution'].get('DomainName', '')})")

    def queue(self) -> Finding:
        url = os.environ.get(QUEUE_ENV, "")
        if not url:
            return Finding("exports queue", True, f"{QUEUE_ENV} is not set: the schedule alone starts runs")
        name = f"exports queue {url}"
        if blocked := self.blocked(name):
            return blocked
        try:
            self.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        except Exception as exc:
            return Finding(
                name,
                False,
                f"cannot be read: {_aws_cause(exc)}",
                f"create the queue (and the bucket's notification to it), or unset {QUEUE_ENV}",
            )
        return Finding(name, True, "exists")

    # --- HTTP services -----------------------------------------------------------------------------------------
    def service(self, conn_id: str, secret: str) -> Finding:
        from charter_pipeline.hooks.jada_calendar import CONNECTION_TEST_ID, JadaCalendarHook
        from charter_pipeline.hooks.policy import RetryPolicy, ServiceAuthError, ServiceError
        from charter_pipeline.hooks.scc import CONNECTION_TEST_REF, ShipCaptainCrewHook

        policy = RetryPolicy(attempts=2, first_delay=0.2, connect_timeout=_QUICK_TIMEOUTS[0], read_timeout=10.0)
        if not _connection_exists(conn_id):
            return Finding(
                conn_id,
                False,
                "connection is not defined",
                f"define it in Admin -> Connections (or as AIRFLOW_CONN_{conn_id.upper()})",
            )
        # A lookup of a booking that does not exist proves the URL and the secret without writing anything. The
        # advice follows the kind of error: refused credentials are the secret's fault, anything else the host's.
        if conn_id == "jada_dashboard":
            jada = JadaCalendarHook(conn_id, policy=policy)
            name, what, lookup = jada.service_name, "a calendar", lambda: jada.find_entries(CONNECTION_TEST_ID)
        else:
            scc = ShipCaptainCrewHook(conn_id, policy=policy)
            name, what, lookup = scc.service_name, "an event", lambda: scc.find_events(CONNECTION_TEST_REF)
        try:
            lookup()
        except ServiceAuthError as exc:
            return Finding(conn_id, False, str(exc), f"put the right {secret} in {conn_id}'s password")
        except ServiceError as exc:
            fix = f"check {conn_id}'s host (base URL with scheme) and that the service is up"
            return Finding(conn_id, False, str(exc), fix)
        return Finding(conn_id, True, f"{name} answered {what} lookup at {_connection_url(conn_id)}")

    def scc_host(self) -> Finding:
        if not _connection_exists("scc_api"):
            return Finding("scc_api host", False, "connection is not defined", "define it (AIRFLOW_CONN_SCC_API)")
        host = urlsplit(_connection_url("scc_api")).hostname or ""
        if host.endswith(".cloudfront.net"):
            return Finding(
                "scc_api host",
                False,
                f"{host} is a CloudFront domain: CloudFront strips the Authorization header, so SCC sees no service "
                "key and refuses every call",
                "use the API Gateway base URL with its stage (https://<id>.execute-api.<region>.amazonaws.com/<stage>)",
            )
        return Finding("scc_api host", True, f"{host} is not a CloudFront domain (CloudFront would strip the key)")

    def ops_alerts(self) -> Finding:
        if not _connection_exists("ops_alerts"):
            return Finding(
                "ops_alerts",
                None,
                "connection is not defined: crew and drift alerts go to the task log only",
                "define ops_alerts (http; host the alert endpoint) to reach the operations desk",
            )
        host = urlsplit(_connection_url("ops_alerts")).hostname or "?"
        return Finding("ops_alerts", True, f"defined (alerts go to {host})")


def _connection_exists(conn_id: str) -> bool:
    from airflow.sdk import BaseHook

    try:
        BaseHook.get_connection(conn_id)
    except Exception:  # AirflowNotFoundException, or no way to look connections up at all
        return False
    return True


def _connection_url(conn_id: str) -> str:
    """The connection's base URL without any user or password in it."""
    from airflow.sdk import BaseHook

    from charter_pipeline.hooks.service_http import base_url_of

    url = base_url_of(BaseHook.get_connection(conn_id))
    parts = urlsplit(url)
    return parts._replace(netloc=parts.hostname or "").geturl() if parts.hostname else url


def run(raw_variable: str | dict[str, Any] | None = None, source: str = "") -> list[Finding]:
    """Every check, in order: the Variable first (when it is unusable, the resources it names are not checked)."""
    if not source:
        raw_variable, source = read_variable()
    try:
        config, usable = load_config(raw_variable), True
        first = Finding(f"Variable {VARIABLE_KEY}", True, f"valid (from {source})")
    except ConfigError as exc:
        config, usable = load_config(None), False
        first = Finding(f"Variable {VARIABLE_KEY}", False, f"{exc} (from {source})", "fix that key")
    return [first, *Doctor(config, usable=usable).findings()]


def airflow_configured(environ: Mapping[str, str]) -> bool:
    """Whether this environment names an Airflow to check: its home (``AIRFLOW_HOME``, or the ``~/airflow`` that
    Airflow falls back to when it exists), its database, or connections or the Variable given as variables.
    Without any, importing Airflow would create an empty ``~/airflow`` and every check would fail for that alone."""
    if environ.get("AIRFLOW_HOME") or environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        return True
    if any(name.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_")) for name in environ):
        return True
    return (Path.home() / "airflow").is_dir()


NOT_CONFIGURED = (
    "nothing to check: no Airflow is configured in this shell (set AIRFLOW_HOME to the deployment's, or give "
    "AIRFLOW_CONN_* and AIRFLOW_VAR_CHARTER_PIPELINE)"
)


def main() -> int:
    """``python -m charter_pipeline.doctor`` (``make doctor``)."""
    if not airflow_configured(os.environ):
        sys.stdout.write(f"{NOT_CONFIGURED}\n")
        return 1
    # One line per check: Airflow's info lines (a credential source per AWS client) would bury them.
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    # Read connections as the API server does: variables first, then the metadata database (Airflow's own
    # `airflow connections test` sets the same). Outside a server, the Task SDK would skip the database, so a
    # connection kept there (where the UI edits it) would look undefined.
    os.environ.setdefault("_AIRFLOW_PROCESS_CONTEXT", "server")
    findings = run()
    failed = sum(finding.ok is False for finding in findings)
    summary = f"{failed} check(s) failed" if failed else "every check passed"
    sys.stdout.write("".join(f"{line}\n" for line in [*(f.line() for f in findings), summary]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
