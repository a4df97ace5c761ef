"""The booking webhook as the stack serves it (HTTP -> function URL event -> handler -> moto), the signed sender and
README's examples, and its deployment by bootstrap: the Lambda zip, the role, the function, its URL (never invoked
through moto: moto runs functions in Docker)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import requests

from charter_pipeline.config import load_config
from charter_pipeline.webhook import sign, stored_key
from sandbox.bootstrap import WEBHOOK_FUNCTION, WEBHOOK_RESERVED_CONCURRENCY, WEBHOOK_ROLE, bootstrap, main
from sandbox.stack import SandboxStack
from sandbox.webhook import DEFAULT_WEBHOOK_SECRET, HANDLER, WebhookReceiver, lambda_package

REPO = Path(__file__).resolve().parents[2]
BUCKET = "webhook-exports"
EXPORTS = f"s3://{BUCKET}/incoming/"
SENDER = REPO / "bin" / "send_booking_webhook.py"


def booking(booking_id: str = "BS-W1", **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "booking_id": booking_id,
        "status": "approved",
        "boat": "Sea Breeze",
        "renter_name": "Jane Doe",
        "trip_date": "2027-07-04",
        "start_time": "10:00",
        "duration_hours": "3",
        "passengers": 6,
        "gross": "840.75",
    }
    row.update(changes)
    return row


def post(url: str, body: bytes, secret: str = DEFAULT_WEBHOOK_SECRET, **kwargs: Any) -> requests.Response:
    headers = {"Content-Type": "application/json", "X-Charter-Signature": sign(body, secret, int(time.time()))}
    return requests.post(url, data=body, headers=headers, timeout=30, **kwargs)


@pytest.fixture
def webhook(stack: SandboxStack) -> str:
    """The stack's webhook, storing into EXPORTS (the bucket exists); its URL."""
    s3 = stack.boto3_client("s3")
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET)
    stack.webhook.deliver_to(EXPORTS)
    return stack.webhook.url + "/"


def stored_keys(stack: SandboxStack) -> list[str]:
    listed = stack.boto3_client("s3").list_objects_v2(Bucket=BUCKET, Prefix="incoming/webhook/")
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_every_stack_serves_the_webhook_and_stores_through_its_aws(webhook: str, stack: SandboxStack) -> None:
    assert json.loads((stack.state_dir / "stack.json").read_text())["webhook_url"] == webhook
    assert DEFAULT_WEBHOOK_SECRET not in (stack.state_dir / "stack.json").read_text()
    body = json.dumps(booking("BS-W-STACK")).encode()
    answer = post(webhook, body)
    assert answer.status_code == 202
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {"accepted": 1, "key": stored_key(body)}
    assert f"incoming/{stored_key(body)}" in stored_keys(stack)
    assert stack.aws.count("s3", "PutObject") >= 1  # through the proxy, like the pipeline's own calls
    got = requests.get(webhook, timeout=10)
    assert (got.status_code, got.headers["Allow"]) == (405, "POST")
    assert post(webhook, body, secret="not-the-secret").status_code == 401
    assert requests.post(webhook, data=b"x" * (300 * 1024), timeout=10).status_code == 413


def test_a_receiver_without_an_exports_location_answers_503_and_storage_failing_is_503(
    webhook: str, stack: SandboxStack
) -> None:
    with WebhookReceiver() as bare:
        assert post(bare.url + "/", json.dumps(booking()).encode()).status_code == 503
    stack.aws.inject_error("s3", "PutObject", code="InternalError", count=10)
    try:
        failing = post(webhook, json.dumps(booking("BS-W-503")).encode())
    finally:
        stack.aws.reset()
    assert failing.status_code == 503
    assert "retry" in failing.json()["error"]


def test_five_identical_deliveries_at_once_leave_one_object(webhook: str, stack: SandboxStack) -> None:
    body = json.dumps({"bookings": [booking("BS-W-RACE")]}).encode()
    barrier = threading.Barrier(5)
    answers: list[requests.Response] = []

    def deliver() -> None:
        barrier.wait()
        answers.append(post(webhook, body))

    threads = [threading.Thread(target=deliver) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [202] * 5
    assert {a.json()["key"] for a in answers} == {stored_key(body)}
    assert [k for k in stored_keys(stack) if k.endswith(stored_key(body))] == [f"incoming/{stored_key(body)}"]


def test_the_sender_signs_sends_and_says_what_happened(webhook: str, stack: SandboxStack, tmp_path: Path) -> None:
    payload = tmp_path / "booking.json"
    payload.write_text(json.dumps([booking("BS-W-SEND"), booking("BS-W-BAD", passengers=0)]))
    env = {**os.environ, "CHARTER_WEBHOOK_URL": webhook, "CHARTER_WEBHOOK_SECRET": DEFAULT_WEBHOOK_SECRET}
    sent = subprocess.run(
        [sys.executable, str(SENDER), f"@{payload}"], env=env, capture_output=True, text=True, timeout=60
    )
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("HTTP 202\n")
    answer = json.loads(sent.stdout.split("\n", 1)[1])
    assert answer["accepted"] == 1
    assert answer["invalid"][0]["field"] == "Passengers"
    assert f"incoming/{answer['key']}" in stored_keys(stack)
    refused = subprocess.run(
        [sys.executable, str(SENDER), f"@{payload}"],
        env={**env, "CHARTER_WEBHOOK_SECRET": "wrong"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (refused.returncode, refused.stdout.splitlines()[0]) == (1, "HTTP 401")
    unset = subprocess.run(
        [sys.executable, str(SENDER), "{}"],
        env={k: v for k, v in env.items() if k != "CHARTER_WEBHOOK_SECRET"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unset.returncode == 2
    assert "CHARTER_WEBHOOK_SECRET" in unset.stderr


def readme_examples() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    marker = "<!-- tested: tests/sandbox/test_webhook_sandbox.py runs this block as written -->\n```bash\n"
    return [block.split("\n```", 1)[0] for block in readme.split(marker)[1:]]


def test_the_readme_examples_work_as_written(webhook: str, stack: SandboxStack) -> None:
    examples = readme_examples()
    assert len(examples) == 2
    # make run's address is fixed (8084); this stack's is not, so only the URL is pointed elsewhere.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHARTER_WEBHOOK", "MAKE"))}
    env["CHARTER_WEBHOOK_URL"] = webhook
    for example in examples:
        ran = subprocess.run(["bash", "-c", example], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0, ran.stderr
        answer = json.loads(ran.stdout[ran.stdout.index("{") :])
        assert answer["accepted"] == 1, ran.stdout
        assert f"incoming/{answer['key']}" in stored_keys(stack)


def test_make_webhook_defaults_to_make_runs_address_and_secret() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert f"CHARTER_WEBHOOK_SECRET ?= {DEFAULT_WEBHOOK_SECRET}\n" in makefile
    assert "CHARTER_WEBHOOK_URL ?= http://127.0.0.1:8084/\n" in makefile
    assert '"webhook": 8084' in (REPO / "sandbox" / "run.py").read_text()


# the Lambda package and its deployment


def test_the_lambda_zip_holds_the_import_closure_and_handles_a_signed_event_without_airflow(tmp_path: Path) -> None:
    package = lambda_package()
    assert package.modules == (
        "charter_pipeline/__init__.py",
        "charter_pipeline/booking.py",
        "charter_pipeline/exports.py",
        "charter_pipeline/webhook.py",
    )
    assert "tzdata/zoneinfo/America/Los_Angeles" in package.files
    assert lambda_package().zip_bytes == package.zip_bytes  # the same code, the same zip
    code = tmp_path / "code"
    with zipfile.ZipFile(io.BytesIO(package.zip_bytes)) as archive:
        archive.extractall(code)
    script = f"""
import importlib.abc, json, sys, time
class NoAirflow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("airflow", "sandbox"):
            raise ImportError(name + " is not in a Lambda")
sys.meta_path.insert(0, NoAirflow())
sys.path.insert(0, {str(code)!r})
import charter_pipeline, tzdata
assert charter_pipeline.__file__.startswith({str(code)!r}) and tzdata.__file__.startswith({str(code)!r})
module, _, function = {HANDLER!r}.rpartition(".")
handler = getattr(__import__(module, fromlist=[function]), function)
from charter_pipeline.webhook import sign
body = json.dumps({json.dumps(booking())}).encode()
event = {{"version": "2.0", "requestContext": {{"http": {{"method": "POST"}}, "requestId": "r"}},
          "headers": {{"x-charter-signature": sign(body, "k2", int(time.time()))}},
          "body": body.decode(), "isBase64Encoded": False}}
print(json.dumps(handler(event, None)))
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(
        CHARTER_EXPORTS_URI=(tmp_path / "exports").as_uri(),
        CHARTER_WEBHOOK_SECRETS="k1,k2",
        PYTHONTZPATH="",  # no system zone files, as on newer Lambda runtimes: the zip's tzdata must serve
    )
    ran = subprocess.run([sys.executable, "-I", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    answer = json.loads(ran.stdout.splitlines()[-1])
    assert answer["statusCode"] == 202, answer
    assert (tmp_path / "exports" / json.loads(answer["body"])["key"]).is_file()


def _deployment_variable() -> str:
    return json.dumps(
        {
            "exports_uri": "s3://webhook-deploy/incoming/",
            "quarantine_uri": "s3://webhook-deploy/quarantine/",
            "guest_bucket": "webhook-deploy-guests",
            "ledger_table": "webhook-deploy-ledger",
            "scc_events_table": "webhook-deploy-scc",
            "timezone": "America/New_York",
        }
    )


def test_bootstrap_deploys_the_function_its_role_url_and_cap_and_the_dry_run_prints_it_all(
    stack: SandboxStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", stack.connections_env()["AIRFLOW_CONN_AWS_DEFAULT"])
    secrets = "deploy-secret-one, deploy-secret-two"
    monkeypatch.setenv("CHARTER_WEBHOOK_SECRETS", secrets)
    lambda_, iam = stack.boto3_client("lambda"), stack.boto3_client("iam")

    assert main(["--dry-run", "--variable", _deployment_variable()]) == 0
    dry = capsys.readouterr().out
    for line in ("IAM role", "Lambda function", "reserved concurrency", "function URL", "URL permission"):
        assert re.search(rf"^{line} .* would create", dry, re.MULTILINE), line
    assert "s3:PutObject s3://webhook-deploy/incoming/webhook/*" in dry
    assert HANDLER in dry
    assert "CHARTER_WEBHOOK_SECRETS=<2 secret(s), not shown>" in dry
    assert "deploy-secret" not in dry
    assert WEBHOOK_FUNCTION not in [f["FunctionName"] for f in lambda_.list_functions()["Functions"]]

    assert main(["--variable", _deployment_variable()]) == 0
    out = capsys.readouterr().out
    assert "deploy-secret" not in out
    url = lambda_.get_function_url_config(FunctionName=WEBHOOK_FUNCTION)
    assert url["AuthType"] == "NONE"
    assert f"booking webhook URL: {url['FunctionUrl']}" in out

    function = lambda_.get_function(FunctionName=WEBHOOK_FUNCTION)
    config = function["Configuration"]
    assert (config["Handler"], config["Runtime"]) == (HANDLER, "python3.12")
    assert config["Environment"]["Variables"] == {
        "CHARTER_EXPORTS_URI": "s3://webhook-deploy/incoming/",
        "CHARTER_WEBHOOK_SECRETS": secrets,
        "CHARTER_TIMEZONE": "America/New_York",
    }
    assert config["Role"] == iam.get_role(RoleName=WEBHOOK_ROLE)["Role"]["Arn"]
    assert function["Concurrency"]["ReservedConcurrentExecutions"] == WEBHOOK_RESERVED_CONCURRENCY
    assert config["CodeSha256"] == base64.b64encode(hashlib.sha256(lambda_package().zip_bytes).digest()).decode()

    (policy_name,) = iam.list_role_policies(RoleName=WEBHOOK_ROLE)["PolicyNames"]
    policy = iam.get_role_policy(RoleName=WEBHOOK_ROLE, PolicyName=policy_name)["PolicyDocument"]
    statements = policy["Statement"]
    s3_statements = [s for s in statements if any(a.startswith("s3:") for a in _actions(s))]
    assert s3_statements == [
        {
            "Sid": "StoreDeliveries",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::webhook-deploy/incoming/webhook/*",
        }
    ]
    assert {a for s in statements for a in _actions(s)} == {
        "s3:PutObject",
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    assert all(f"/aws/lambda/{WEBHOOK_FUNCTION}" in s["Resource"] for s in statements if s not in s3_statements)
    trust = iam.get_role(RoleName=WEBHOOK_ROLE)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}

    permissions = json.loads(lambda_.get_policy(FunctionName=WEBHOOK_FUNCTION)["Policy"])["Statement"]
    by_action = {p["Action"]: p for p in permissions}
    assert by_action["lambda:InvokeFunctionUrl"]["Principal"] == "*"
    assert json.dumps(by_action["lambda:InvokeFunctionUrl"]).count("NONE") == 1

    again = bootstrap(load_config(_deployment_variable()), webhook_secrets=secrets)
    webhook_steps = [s for s in again.steps if s.resource in ("IAM role", "Lambda function", "function URL")]
    assert {s.outcome for s in webhook_steps} == {"exists"}
    assert {s.outcome for s in again.steps if s.resource in ("reserved concurrency", "URL permission")} == {"exists"}
    assert again.webhook_url == url["FunctionUrl"]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_bootstrap_leaves_the_webhook_out_without_secrets_or_off_s3(
    stack: SandboxStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", stack.connections_env()["AIRFLOW_CONN_AWS_DEFAULT"])
    config = load_config(_deployment_variable())
    unset = bootstrap(config, dry_run=True, webhook_secrets=" , ")
    assert [(s.resource, s.outcome) for s in unset.steps][-1] == ("booking webhook", "skipped")
    assert "CHARTER_WEBHOOK_SECRETS is not set" in unset.steps[-1].note
    folder = tmp_path / "exports"
    local = load_config({"exports_uri": folder.as_uri(), "quarantine_uri": (tmp_path / "q").as_uri()})
    off_s3 = bootstrap(local, dry_run=True, webhook_secrets="s")
    assert "not on S3" in off_s3.steps[-1].note
    assert all(s.resource != "Lambda function" for s in bootstrap(config, dry_run=True).steps)


def test_the_lambda_handler_stores_on_s3_at_aws_endpoint_url(
    webhook: str, stack: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from charter_pipeline import webhook as lambda_module

    for name, value in {
        "AWS_ENDPOINT_URL": stack.moto_url,
        "AWS_ACCESS_KEY_ID": stack.aws_access_key_id,
        "AWS_SECRET_ACCESS_KEY": stack.aws_secret_access_key,
        "AWS_DEFAULT_REGION": stack.region,
        "CHARTER_EXPORTS_URI": EXPORTS,
        "CHARTER_WEBHOOK_SECRETS": "lambda-secret",
    }.items():
        monkeypatch.setenv(name, value)
    lambda_module._lambda_s3_client.cache_clear()  # a container's client is made once; this test's is its own
    try:
        body = json.dumps(booking("BS-W-LAMBDA")).encode()
        event = {
            "version": "2.0",
            "requestContext": {"http": {"method": "POST"}, "requestId": "lambda"},
            "headers": {"x-charter-signature": sign(body, "lambda-secret", int(time.time()))},
            "body": body.decode(),
            "isBase64Encoded": False,
        }
        assert lambda_module.handler(event, None)["statusCode"] == 202
    finally:
        lambda_module._lambda_s3_client.cache_clear()
    assert f"incoming/{stored_key(body)}" in stored_keys(stack)
