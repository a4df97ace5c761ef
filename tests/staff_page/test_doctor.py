"""The connection doctor against the sandbox: everything right, then each fault a deployment meets, one at a time.

Each failure must fail its own line with a cause and a fix, leave the exit code non-zero, and never print a secret.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from charter_pipeline.doctor import Finding, main, run
from sandbox.stack import SandboxStack
from tests.e2e.harness import REPO, bootstrap_on

VARIABLE = {
    "ledger_table": "doctor-ledger",
    "exports_uri": "s3://doctor-exports/incoming/",
    "quarantine_uri": "s3://doctor-exports/quarantine/",
    "guest_bucket": "doctor-guest-pages",
}


@dataclass
class Deployment:
    stack: SandboxStack
    variable: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def secrets(self) -> list[str]:
        return [self.stack.dashboard_token, self.stack.scc_service_key, self.stack.aws_secret_access_key]

    def conn(self, name: str) -> dict[str, Any]:
        return dict(json.loads(self.env[f"AIRFLOW_CONN_{name.upper()}"]))

    def set_conn(self, name: str, **changes: Any) -> None:
        self.env[f"AIRFLOW_CONN_{name.upper()}"] = json.dumps(self.conn(name) | changes)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SandboxStack, str]]:
    with SandboxStack(tmp_path_factory.mktemp("doctor-stack")) as stack:
        distribution = bootstrap_on(stack, VARIABLE, create_distribution=True)
        stack.scc.ensure_table()
        yield stack, distribution
        stack.moto.reset()


@pytest.fixture
def deployment(sandbox: tuple[SandboxStack, str], monkeypatch: pytest.MonkeyPatch) -> Deployment:
    stack, distribution = sandbox
    stack.clear_faults() if hasattr(stack, "clear_faults") else None
    for service in (stack.aws, stack.jada, stack.scc):
        service.clear_faults()
    env = stack.connections_env()
    env["AIRFLOW_CONN_OPS_ALERTS"] = json.dumps({"conn_type": "http", "host": stack.jada_url + "/alerts"})
    monkeypatch.delenv("CHARTER_EXPORTS_QUEUE_URL", raising=False)
    return Deployment(stack, VARIABLE | {"cloudfront_distribution_id": distribution}, env)


def check(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> list[Finding]:
    for name, value in deployment.env.items():
        monkeypatch.setenv(name, value)
    findings = run(json.dumps(deployment.variable), "the test")
    text = "\n".join(f.line() for f in findings)
    for secret in deployment.secrets:
        assert secret not in text
    return findings


def failed(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings if f.ok is False}


def test_a_deployment_with_everything_in_place_passes_every_check(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    findings = check(deployment, monkeypatch)
    assert failed(findings) == {}, [f.line() for f in findings]
    assert [f.ok for f in findings].count(None) == 0
    assert len(findings) == 13  # the Variable, then one line per connection or resource


def test_make_doctor_prints_one_line_per_check_and_exits_non_zero_on_any_failure(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in deployment.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AIRFLOW_VAR_CHARTER_PIPELINE", json.dumps(deployment.variable))
    capsys.readouterr()
    assert main() == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("20")]
    assert lines[-1] == "every check passed"
    assert len(lines) == 14
    assert all(line.startswith("ok  ") for line in lines[:-1])

    # As `make doctor` runs it: its own process, the Variable and connections from the environment.
    deployment.set_conn("jada_dashboard", password="not-the-token")
    variable = deployment.variable | {"guest_bucket": "no-such-guest-bucket"}
    bad = subprocess.run(
        [sys.executable, "-m", "charter_pipeline.doctor"],
        env={**os.environ, **deployment.env, "PYTHONPATH": str(REPO / "plugins"),
             "AIRFLOW_VAR_CHARTER_PIPELINE": json.dumps(variable)},
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode == 1, bad.stdout + bad.stderr
    out = bad.stdout.splitlines()
    assert out[-1] == "2 check(s) failed"
    assert len(out) == 14, out  # nothing but the checks and the verdict
    assert sum(line.startswith("FAIL") for line in out) == 2
    for secret in [*deployment.secrets, "not-the-token"]:
        assert secret not in bad.stdout + bad.stderr


def _wrong_token(d: Deployment) -> None:
    d.set_conn("jada_dashboard", password="wrong-dashboard-token")


def _wrong_key(d: Deployment) -> None:
    d.set_conn("scc_api", password="wrong-service-key")


def _through_cloudfront(d: Deployment) -> None:
    d.set_conn("scc_api", host="http://d1a2b3c4d5e6f7.cloudfront.net:9/prod")


def _scc_down(d: Deployment) -> None:
    d.stack.scc.inject(method="GET", path="/events", mode="status", status=503, count=10)


def _jada_missing(d: Deployment) -> None:
    del d.env["AIRFLOW_CONN_JADA_DASHBOARD"]
    os.environ.pop("AIRFLOW_CONN_JADA_DASHBOARD", None)


def _no_ledger(d: Deployment) -> None:
    d.variable["ledger_table"] = "no-such-ledger"


def _ledger_wrong_key(d: Deployment) -> None:
    d.stack.boto3_client("dynamodb").create_table(
        TableName="doctor-ledger-keyed-by-id",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    d.variable["ledger_table"] = "doctor-ledger-keyed-by-id"


def _no_events_table(d: Deployment) -> None:
    d.variable["scc_events_table"] = "no-such-events"


def _no_guest_bucket(d: Deployment) -> None:
    d.variable["guest_bucket"] = "no-such-guest-bucket"


def _no_exports_bucket(d: Deployment) -> None:
    d.variable["exports_uri"] = "s3://no-such-exports/incoming/"


def _no_distribution(d: Deployment) -> None:
    d.variable["cloudfront_distribution_id"] = "E2NOSUCHDIST00"


def _no_queue(d: Deployment) -> None:
    os.environ["CHARTER_EXPORTS_QUEUE_URL"] = d.stack.aws_url + "/123456789012/no-such-queue"


def _aws_unreachable(d: Deployment) -> None:
    conn = d.conn("aws_default")
    d.set_conn("aws_default", extra=conn["extra"] | {"endpoint_url": "http://127.0.0.1:9"})


def _aws_refuses(d: Deployment) -> None:
    d.stack.aws.inject_error("sts", "GetCallerIdentity", code="InvalidClientTokenId", status=403, count=10)


def _bad_variable(d: Deployment) -> None:
    d.variable["timezone"] = "Mars/Olympus_Mons"


FAULTS: dict[str, tuple[Callable[[Deployment], None], str, str, str]] = {
    # fault: (inject, failing check, cause must match, fix must match)
    "wrong JADA token": (_wrong_token, "jada_dashboard", "refused the dashboard token", "right token"),
    "wrong SCC key": (_wrong_key, "scc_api", "refused the service key", "right service key"),
    "SCC through CloudFront": (_through_cloudfront, "scc_api host", "strips the Authorization header", "API Gateway"),
    "SCC answers 503": (_scc_down, "scc_api", "503", "service is up"),
    "JADA not defined": (_jada_missing, "jada_dashboard", "not defined", "AIRFLOW_CONN_JADA_DASHBOARD"),
    "no ledger table": (_no_ledger, "ledger table 'no-such-ledger'", "ResourceNotFound", r"booking_id \(S\)"),
    "ledger keyed wrong": (_ledger_wrong_key, "ledger table 'doctor-ledger-keyed-by-id'", "has key id", "new table"),
    "no events table": (_no_events_table, "SCC events table 'no-such-events'", "ResourceNotFound", r"event_id \(S\)"),
    "no guest bucket": (_no_guest_bucket, "guest bucket 'no-such-guest-bucket'", "no such bucket", "bootstrap"),
    "no exports bucket": (_no_exports_bucket, "exports location s3://no-such-exports/incoming/", "bucket", "bootstrap"),
    "no distribution": (_no_distribution, "CloudFront distribution E2NOSUCHDIST00", "NoSuchDistribution", "id"),
    "no queue": (_no_queue, "exports queue", "NonExistentQueue|QueueDoesNotExist", "CHARTER_EXPORTS_QUEUE_URL"),
    "AWS unreachable": (
        _aws_unreachable,
        "AWS (aws_default)",
        "EndpointConnectionError|ConnectTimeout",
        "endpoint_url",
    ),
    "AWS refuses": (_aws_refuses, "AWS (aws_default)", "refused the credentials", "access key"),
    "bad Variable": (_bad_variable, "Variable charter_pipeline", "timezone", "fix that key"),
}


# Faults that touch different checks are injected together (each must still fail only its own line); those that
# stop other checks (AWS unreachable) or compete for one line run alone. Every entry of FAULTS is in one scenario.
SCENARIOS = {
    "resources missing": ["wrong JADA token", "no ledger table", "no events table", "no guest bucket",
                          "no exports bucket", "no distribution", "no queue"],
    "keys wrong": ["wrong SCC key", "ledger keyed wrong"],
    "services down or undefined": ["SCC answers 503", "JADA not defined"],
    "SCC through CloudFront": ["SCC through CloudFront"],
    "AWS unreachable": ["AWS unreachable"],
    "AWS refuses": ["AWS refuses"],
    "bad Variable": ["bad Variable"],
}  # fmt: skip


# Faults whose line stops others: without AWS no resource is checked ("not checked: AWS is not reachable"), with
# an unusable Variable no resource it names is, and SCC behind CloudFront cannot answer the key check either.
CASCADING = {"AWS unreachable", "AWS refuses", "bad Variable", "SCC through CloudFront"}


def test_every_fault_is_in_a_scenario() -> None:
    assert sorted(f for faults in SCENARIOS.values() for f in faults) == sorted(FAULTS)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_each_fault_fails_its_own_line_with_a_cause_and_a_fix(
    scenario: str, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    faults = [FAULTS[name] for name in SCENARIOS[scenario]]
    monkeypatch.setenv("CHARTER_EXPORTS_QUEUE_URL", "")
    with monkeypatch.context() as patch:
        for name in deployment.env:
            patch.setenv(name, deployment.env[name])
        for inject, *_ in faults:
            inject(deployment)
        findings = check(deployment, patch)
    bad = failed(findings)
    expected = set()
    for _, check_name, cause, fix in faults:
        matching = [name for name in bad if name.startswith(check_name)]
        assert matching, (check_name, [f.line() for f in findings])
        finding = bad[matching[0]]
        expected.add(finding.check)
        assert re.search(cause, finding.detail), finding.line()
        assert re.search(fix, finding.fix), finding.line()
        assert "Fix: " in finding.line()
    if scenario not in CASCADING:
        assert set(bad) == expected, [f.line() for f in findings]


def test_a_queue_that_exists_passes_and_no_ops_alerts_is_a_warning_not_a_failure(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue_url = deployment.stack.boto3_client("sqs").create_queue(QueueName="doctor-exports-events")["QueueUrl"]
    monkeypatch.setenv("CHARTER_EXPORTS_QUEUE_URL", queue_url)
    del deployment.env["AIRFLOW_CONN_OPS_ALERTS"]
    monkeypatch.delenv("AIRFLOW_CONN_OPS_ALERTS", raising=False)
    findings = check(deployment, monkeypatch)
    assert failed(findings) == {}, [f.line() for f in findings]
    by_name = {f.check.split(" ")[0] + " " + f.check.split(" ")[1] if " " in f.check else f.check: f for f in findings}
    assert by_name["exports queue"].ok is True
    warning = next(f for f in findings if f.check == "ops_alerts")
    assert warning.ok is None
    assert "task log" in warning.detail


def _bare_shell(home: Path) -> dict[str, str]:
    """A person's shell that names no Airflow: nothing AIRFLOW* or CHARTER*, a home of its own."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AIRFLOW", "_AIRFLOW", "CHARTER"))}
    return env | {"HOME": str(home), "PYTHONPATH": str(REPO / "plugins")}


@pytest.mark.parametrize("module", ["sandbox.doctor", "charter_pipeline.doctor"])
def test_with_no_stack_running_and_nothing_configured_the_doctor_says_so_in_one_line(
    module: str, tmp_path: Path
) -> None:
    """make doctor (sandbox.doctor) with no `make run` going, and the pipeline's doctor alone: one line, exit 1, no
    traceback, and no ~/airflow created (Airflow makes one when imported without AIRFLOW_HOME)."""
    args = ["--state-file", str(tmp_path / "no-stack.json")] if module == "sandbox.doctor" else []
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        env=_bare_shell(tmp_path), cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert len(done.stdout.splitlines()) == 1, done.stdout
    assert "nothing to check" in done.stdout
    assert "no Airflow is configured in this shell" in done.stdout
    assert ("no local stack is running" in done.stdout) == (module == "sandbox.doctor")
    assert done.stderr == ""
    assert not (tmp_path / "airflow").exists()


def test_a_stale_state_file_of_a_stopped_stack_is_not_taken_for_a_running_one(tmp_path: Path) -> None:
    from sandbox.topology import read_state_file

    stale = tmp_path / "local-stack.json"
    stale.write_text(json.dumps({"pid": 2**22 + 7, "env": {}, "executor": "local", "api_url": "x"}))
    assert read_state_file(stale) is None
    stale.write_text(json.dumps({"pid": os.getpid(), "env": {}, "executor": "local", "api_url": "x"}))
    assert read_state_file(stale) == {"pid": os.getpid(), "env": {}, "executor": "local", "api_url": "x"}
    assert read_state_file(tmp_path / "missing.json") is None
