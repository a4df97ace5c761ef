"""The booking webhook's handler (CONTRACT.md section 14): every row of the answers table, signatures, storage.

Storage is a real folder (``file://``) or moto in-process (``s3://``); nothing of the handler is faked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from charter_pipeline import webhook
from charter_pipeline.exports import parse_export
from charter_pipeline.webhook import Settings, Stored, respond, sign, stored_key

SECRET = "whsec-unit-9fQ2kLr"
NOW = datetime(2027, 3, 1, 18, 30, tzinfo=UTC)
LA = ZoneInfo("America/Los_Angeles")
PLUGINS = Path(__file__).resolve().parents[2] / "plugins"


def booking(booking_id: str = "BS-9001", **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "booking_id": booking_id,
        "status": "approved",
        "boat": "Sea Breeze",
        "renter_name": "Jane Doe",
        "renter_email": "jane.doe@example.com",
        "renter_phone": "+1 619 555 0142",
        "trip_date": "2027-07-04",
        "start_time": "10:00",
        "duration_hours": 3,
        "passengers": 6,
        "gross": 840.75,
    }
    row.update(changes)
    return row


def event(
    body: bytes | str,
    *,
    method: str = "POST",
    secret: str | None = SECRET,
    at: datetime = NOW,
    header: str | None = None,
    base64_encoded: bool = False,
) -> dict[str, Any]:
    raw = body.encode() if isinstance(body, str) else body
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        base64_encoded = True  # what a function URL does with a body that is not text
    headers = {"content-type": "application/json"}
    if header is not None:
        headers["x-charter-signature"] = header
    elif secret is not None:
        headers["x-charter-signature"] = sign(raw, secret, int(at.timestamp()))
    return {
        "version": "2.0",
        "rawPath": "/",
        "headers": headers,
        "requestContext": {"http": {"method": method, "path": "/"}, "requestId": "req-1"},
        "body": base64.b64encode(raw).decode() if base64_encoded else raw.decode("utf-8"),
        "isBase64Encoded": base64_encoded,
    }


def payload(*bookings: dict[str, Any]) -> bytes:
    return json.dumps(list(bookings)).encode()


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder


@pytest.fixture
def settings(exports: Path) -> Settings:
    return Settings(exports.as_uri() + "/", (SECRET.encode(),), LA)


def answer_of(result: dict[str, Any]) -> dict[str, Any]:
    assert result["headers"]["content-type"] == "application/json"
    body = json.loads(result["body"])
    assert isinstance(body, dict)
    return body


def stored_files(exports: Path) -> list[Path]:
    return sorted((exports / "webhook").iterdir()) if (exports / "webhook").exists() else []


# 405, 413


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD"])
def test_anything_but_post_is_405_whatever_it_carries(settings: Settings, exports: Path, method: str) -> None:
    result = respond(event(payload(booking()), method=method), settings, now=NOW)
    assert result["statusCode"] == 405
    assert result["headers"]["allow"] == "POST"
    assert "error" in answer_of(result)
    assert stored_files(exports) == []


def test_a_body_over_256_kib_is_413_before_its_signature_or_json_is_read(settings: Settings, exports: Path) -> None:
    oversized = b"x" * (256 * 1024 + 1)  # not JSON, and unsigned
    assert respond(event(oversized, secret=None), settings, now=NOW)["statusCode"] == 413
    assert respond(event(oversized, base64_encoded=True), settings, now=NOW)["statusCode"] == 413
    # Exactly 256 KiB is allowed: it gets as far as the JSON check.
    padded = b"[" + b" " * (256 * 1024 - 2) + b"]"
    assert respond(event(padded), settings, now=NOW)["statusCode"] == 400
    assert stored_files(exports) == []


def test_a_multibyte_body_is_measured_in_bytes(settings: Settings) -> None:
    body = json.dumps([booking(renter_name="é" * (130 * 1024))], ensure_ascii=False).encode()
    assert len(body.decode()) < 256 * 1024 < len(body)
    assert respond(event(body), settings, now=NOW)["statusCode"] == 413


# 401


@pytest.mark.parametrize(
    "header",
    [
        "",
        "v1=" + "a" * 64,  # no t
        "t=1804012200",  # no v1
        "t=abc,v1=" + "a" * 64,
        "t=1804012200,v1=xyz",
        "t=1804012200,v1=" + "a" * 63,
        "t=1804012200;v1=" + "a" * 64,
        "t=1804012200,t=1804012201,v1=" + "a" * 64,
        "garbage",
    ],
)
def test_a_missing_or_malformed_signature_is_401(settings: Settings, exports: Path, header: str) -> None:
    result = respond(event(payload(booking()), header=header), settings, now=NOW)
    assert result["statusCode"] == 401
    assert "X-Charter-Signature" in answer_of(result)["error"]
    assert stored_files(exports) == []


def test_no_signature_header_is_401(settings: Settings) -> None:
    result = respond(event(payload(booking()), secret=None), settings, now=NOW)
    assert result["statusCode"] == 401
    assert answer_of(result)["error"] == "X-Charter-Signature is missing"


def test_a_wrong_secret_or_a_changed_body_is_401(settings: Settings, exports: Path) -> None:
    assert respond(event(payload(booking()), secret="not-the-secret"), settings, now=NOW)["statusCode"] == 401
    header = sign(payload(booking()), SECRET, int(NOW.timestamp()))
    tampered = event(payload(booking(gross=1.0)), header=header)
    assert respond(tampered, settings, now=NOW)["statusCode"] == 401
    assert stored_files(exports) == []


@pytest.mark.parametrize("offset", [301, -301, 86_400])
def test_a_timestamp_more_than_300_s_off_is_401_even_when_the_digest_matches(
    settings: Settings, exports: Path, offset: int
) -> None:
    result = respond(event(payload(booking()), at=NOW + timedelta(seconds=offset)), settings, now=NOW)
    assert result["statusCode"] == 401
    assert "300 s" in answer_of(result)["error"]
    assert stored_files(exports) == []


def test_a_replay_inside_the_window_answers_as_the_first_and_stores_nothing_new(
    settings: Settings, exports: Path
) -> None:
    body = payload(booking())
    first = respond(event(body, at=NOW - timedelta(seconds=290)), settings, now=NOW - timedelta(seconds=200))
    stored = stored_files(exports)
    content = stored[0].read_bytes()
    again = respond(event(body, at=NOW - timedelta(seconds=290)), settings, now=NOW)
    assert first["statusCode"] == again["statusCode"] == 202
    assert answer_of(first) == answer_of(again) == {"accepted": 1, "key": stored_key(body)}
    assert stored_files(exports) == stored
    assert stored[0].read_bytes() == content  # the first delivery's receipt time stays: never rewritten
    # The same body, replayed after the window, is refused.
    late = respond(event(body, at=NOW - timedelta(seconds=290)), settings, now=NOW + timedelta(seconds=11))
    assert late["statusCode"] == 401


# rotation


def test_any_of_the_comma_separated_secrets_verifies_trimmed(exports: Path) -> None:
    rotating = Settings.from_environment(
        {"CHARTER_EXPORTS_URI": exports.as_uri(), "CHARTER_WEBHOOK_SECRETS": " old-secret , new-secret ,"}
    )
    assert rotating.secrets == (b"old-secret", b"new-secret")
    for secret in ("old-secret", "new-secret"):
        body = payload(booking(booking_id=f"BS-{secret}"))
        assert respond(event(body, secret=secret), rotating, now=NOW)["statusCode"] == 202
    assert respond(event(payload(booking()), secret="older-secret"), rotating, now=NOW)["statusCode"] == 401


def test_a_header_with_several_v1_verifies_when_any_matches(settings: Settings) -> None:
    body = payload(booking())
    t = int(NOW.timestamp())
    good = sign(body, SECRET, t).split("v1=")[1]
    wrong = sign(body, "retired-secret", t).split("v1=")[1]
    for header in (f"t={t},v1={wrong},v1={good}", f"t={t}, v1={good.upper()} ,v1={wrong}", f"t={t},v0=zz,v1={good}"):
        assert respond(event(body, header=header), settings, now=NOW)["statusCode"] == 202, header
    assert respond(event(body, header=f"t={t},v1={wrong},v1={wrong}"), settings, now=NOW)["statusCode"] == 401


# base64


def test_a_base64_body_is_verified_and_stored_as_its_decoded_bytes(settings: Settings, exports: Path) -> None:
    body = payload(booking())
    result = respond(event(body, base64_encoded=True), settings, now=NOW)
    assert result["statusCode"] == 202
    assert answer_of(result)["key"] == stored_key(body)
    assert json.loads(stored_files(exports)[0].read_bytes())["bookings"][0]["booking_id"] == "BS-9001"
    encoded = base64.b64encode(body)
    signed_over_encoding = event(encoded.decode(), header=sign(encoded, SECRET, int(NOW.timestamp())))
    signed_over_encoding["isBase64Encoded"] = True
    assert respond(signed_over_encoding, settings, now=NOW)["statusCode"] == 401
    broken = event(body, base64_encoded=True)
    broken["body"] = "not base64!"
    assert respond(broken, settings, now=NOW)["statusCode"] == 400


# 400


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe[]", "not UTF-8"),
        (b'"a string"', "booking object"),
        (b"42", "booking object"),
        (b"null", "booking object"),
        (b"[]", "no booking"),
        (b'{"bookings": []}', "no booking"),
        (b'{"bookings": {"booking_id": "x"}}', "array"),
        (b'[{"booking_id": "x"}, 7]', "booking 1 is a number"),
        (b"[[]]", "booking 0 is an array"),
    ],
)
def test_a_signed_body_that_is_no_booking_payload_is_400(
    settings: Settings, exports: Path, body: bytes, says: str
) -> None:
    result = respond(event(body), settings, now=NOW)
    assert result["statusCode"] == 400
    assert says in answer_of(result)["error"]
    assert stored_files(exports) == []


def test_a_batch_of_100_is_accepted_and_101_is_400(settings: Settings, exports: Path) -> None:
    hundred = json.dumps({"bookings": [booking(f"BS-{n}") for n in range(100)]}).encode()
    result = respond(event(hundred), settings, now=NOW)
    assert result["statusCode"] == 202
    assert answer_of(result)["accepted"] == 100
    assert len(json.loads(stored_files(exports)[0].read_bytes())["bookings"]) == 100
    over = json.dumps([booking(f"BS-{n}") for n in range(101)]).encode()
    refused = respond(event(over), settings, now=NOW)
    assert refused["statusCode"] == 400
    assert "101" in answer_of(refused)["error"]
    assert len(stored_files(exports)) == 1


# 202


@pytest.mark.parametrize("shape", ["object", "array", "bookings"])
def test_a_valid_booking_in_any_shape_is_stored_as_one_json_export(
    settings: Settings, exports: Path, shape: str
) -> None:
    one = booking()
    body = json.dumps({"object": one, "array": [one], "bookings": {"bookings": [one]}}[shape]).encode()
    result = respond(event(body), settings, now=NOW)
    assert result["statusCode"] == 202
    assert answer_of(result) == {"accepted": 1, "key": f"webhook/{hashlib.sha256(body).hexdigest()}.json"}
    (stored,) = stored_files(exports)
    assert stored.name == answer_of(result)["key"].removeprefix("webhook/")
    document = json.loads(stored.read_bytes())
    assert document == {"bookings": [{**one, "gross": "840.75", "updated_at": "2027-03-01T18:30:00+00:00"}]}
    candidates, problems = parse_export(answer_of(result)["key"], stored.read_bytes(), LA, last_modified=NOW)
    assert problems == []
    assert candidates[0].booking.updated_at == NOW
    assert str(candidates[0].booking.gross) == "840.75"


def test_a_booking_with_its_own_updated_at_keeps_it_and_others_get_the_receipt_time(
    settings: Settings, exports: Path
) -> None:
    body = payload(
        booking("BS-1", updated_at="2027-02-28T09:00:00-08:00"),
        booking("BS-2", **{"Updated At": "2027-02-27T10:00:00Z"}),
        booking("BS-3", updated_at=""),
        booking("BS-4", updated_at=None),
    )
    assert respond(event(body), settings, now=NOW)["statusCode"] == 202
    stored = json.loads(stored_files(exports)[0].read_bytes())["bookings"]
    assert stored[0]["updated_at"] == "2027-02-28T09:00:00-08:00"
    assert "updated_at" not in stored[1]
    assert stored[1]["Updated At"] == "2027-02-27T10:00:00Z"
    assert stored[2]["updated_at"] == stored[3]["updated_at"] == "2027-03-01T18:30:00+00:00"


def test_some_invalid_is_202_naming_index_field_and_the_quarantine_reason(settings: Settings, exports: Path) -> None:
    body = payload(booking("BS-1"), booking("BS-2", trip_date="2027-02-30"), booking("BS-3", passengers=0))
    result = respond(event(body), settings, now=NOW)
    assert result["statusCode"] == 202
    answer = answer_of(result)
    assert answer["accepted"] == 1
    assert [(item["index"], item["field"]) for item in answer["invalid"]] == [(1, "Trip Date"), (2, "Passengers")]
    # The reasons are the very ones the poll will quarantine the stored rows with.
    _, problems = parse_export(answer["key"], stored_files(exports)[0].read_bytes(), LA, last_modified=NOW)
    assert [(p.row - 1, p.reason) for p in problems] == [(i["index"], i["reason"]) for i in answer["invalid"]]
    assert answer["invalid"][1]["reason"].startswith("Passengers: ")


def test_every_booking_invalid_is_422_and_still_stored(settings: Settings, exports: Path) -> None:
    body = payload(booking(status="maybe"), {"booking_id": "BS-2"})
    result = respond(event(body), settings, now=NOW)
    assert result["statusCode"] == 422
    answer = answer_of(result)
    assert answer["accepted"] == 0
    assert answer["key"] == stored_key(body)
    assert [(i["index"], i["field"]) for i in answer["invalid"]] == [(0, "Status"), (1, "Status")]
    assert len(stored_files(exports)) == 1
    again = respond(event(body), settings, now=NOW + timedelta(seconds=5))
    assert (again["statusCode"], answer_of(again)) == (422, answer)


def test_the_parse_uses_the_configured_time_zone(exports: Path) -> None:
    # 02:30 on 2027-03-14 does not exist in Los Angeles (clocks skip it) but does in UTC.
    body = payload(booking(trip_date="2027-03-14", start_time="02:30"))
    la = Settings(exports.as_uri(), (SECRET.encode(),), LA)
    assert answer_of(respond(event(body), la, now=NOW))["invalid"][0]["field"] == "Start Time"
    utc = Settings((exports / "utc").as_uri(), (SECRET.encode(),), ZoneInfo("UTC"))
    assert "invalid" not in answer_of(respond(event(body), utc, now=NOW))


# 503


def test_storage_failing_is_503_and_nothing_is_stored(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the exports folder should be")
    settings = Settings(blocked.as_uri(), (SECRET.encode(),), LA)
    result = respond(event(payload(booking())), settings, now=NOW)
    assert result["statusCode"] == 503
    assert "retry" in answer_of(result)["error"]


def test_missing_settings_are_503_but_405_and_413_come_first(monkeypatch: pytest.MonkeyPatch, exports: Path) -> None:
    monkeypatch.setenv("CHARTER_EXPORTS_URI", exports.as_uri())
    monkeypatch.delenv("CHARTER_WEBHOOK_SECRETS", raising=False)
    assert webhook.handler(event(payload(booking())), None)["statusCode"] == 503
    assert webhook.handler(event(payload(booking()), method="GET"), None)["statusCode"] == 405
    assert webhook.handler(event(b"x" * (300 * 1024)), None)["statusCode"] == 413
    monkeypatch.setenv("CHARTER_WEBHOOK_SECRETS", " , ")
    assert webhook.handler(event(payload(booking())), None)["statusCode"] == 503
    monkeypatch.setenv("CHARTER_WEBHOOK_SECRETS", SECRET)
    monkeypatch.setenv("CHARTER_TIMEZONE", "Mars/Olympus")
    assert webhook.handler(event(payload(booking())), None)["statusCode"] == 503
    monkeypatch.setenv("CHARTER_TIMEZONE", "America/Los_Angeles")
    monkeypatch.setenv("CHARTER_EXPORTS_URI", "ftp://nowhere/")
    assert webhook.handler(event(payload(booking())), None)["statusCode"] == 503


def test_the_handler_reads_its_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, exports: Path) -> None:
    monkeypatch.setenv("CHARTER_EXPORTS_URI", exports.as_uri() + "/")
    monkeypatch.setenv("CHARTER_WEBHOOK_SECRETS", f"retired,{SECRET}")
    monkeypatch.delenv("CHARTER_TIMEZONE", raising=False)
    body = payload(booking())
    result = webhook.handler(event(body, at=datetime.now(UTC)), type("Context", (), {"aws_request_id": "abc"})())
    assert result["statusCode"] == 202
    assert result["headers"]["x-request-id"] == "abc"
    assert (exports / stored_key(body)).is_file()


# S3


@pytest.fixture
def s3_settings(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="charter-exports")
        yield client, Settings("s3://charter-exports/incoming", (SECRET.encode(),), LA, s3_client=lambda: client)


def test_s3_stores_once_with_a_conditional_put(s3_settings: Any) -> None:
    client, settings = s3_settings
    body = payload(booking())
    first = respond(event(body), settings, now=NOW)
    second = respond(event(body), settings, now=NOW + timedelta(seconds=30))
    assert first["statusCode"] == second["statusCode"] == 202
    assert answer_of(first) == answer_of(second)
    listed = client.list_objects_v2(Bucket="charter-exports")["Contents"]
    assert [item["Key"] for item in listed] == [f"incoming/{stored_key(body)}"]
    stored = client.get_object(Bucket="charter-exports", Key=f"incoming/{stored_key(body)}")
    assert stored["ContentType"] == "application/json"
    assert json.loads(stored["Body"].read())["bookings"][0]["updated_at"] == "2027-03-01T18:30:00+00:00"
    assert webhook.store_once(settings, stored_key(body), {"bookings": []}) is Stored.ALREADY


def test_s3_without_the_bucket_is_503(s3_settings: Any) -> None:
    client, settings = s3_settings
    missing = Settings("s3://no-such-bucket/incoming/", settings.secrets, LA, s3_client=lambda: client)
    assert respond(event(payload(booking())), missing, now=NOW)["statusCode"] == 503


class _ConflictingS3:
    """An S3 client answering 409 ConditionalRequestConflict a few times, then what ``then`` says."""

    def __init__(self, conflicts: int, then: int | None) -> None:
        self.conflicts, self.then, self.calls = conflicts, then, 0

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["IfNoneMatch"] == "*"
        self.calls += 1
        if self.calls <= self.conflicts:
            raise ClientError(
                {"Error": {"Code": "ConditionalRequestConflict"}, "ResponseMetadata": {"HTTPStatusCode": 409}}, "Put"
            )
        if self.then == 412:
            raise ClientError(
                {"Error": {"Code": "PreconditionFailed"}, "ResponseMetadata": {"HTTPStatusCode": 412}}, "Put"
            )
        return {}


def test_a_409_conflict_is_retried_never_taken_for_stored() -> None:
    def settings_for(client: _ConflictingS3) -> Settings:
        return Settings("s3://bucket/prefix/", (b"s",), LA, s3_client=lambda: client)

    settled = _ConflictingS3(conflicts=2, then=412)
    assert webhook.store_once(settings_for(settled), "webhook/x.json", {"bookings": []}) is Stored.ALREADY
    assert settled.calls == 3
    won = _ConflictingS3(conflicts=1, then=None)
    assert webhook.store_once(settings_for(won), "webhook/x.json", {"bookings": []}) is Stored.NEW
    endless = _ConflictingS3(conflicts=99, then=None)
    assert respond(event(payload(booking()), secret="s"), settings_for(endless), now=NOW)["statusCode"] == 503


# at once


def test_five_identical_deliveries_at_once_into_a_folder_store_one_object(settings: Settings, exports: Path) -> None:
    body = payload(booking())
    barrier = threading.Barrier(5)
    answers: list[dict[str, Any]] = []
    outcomes: list[Stored] = []
    store_once = webhook.store_once

    def counting_store(*args: Any) -> Stored:
        outcome = store_once(*args)
        outcomes.append(outcome)
        return outcome

    def deliver() -> None:
        barrier.wait()
        answers.append(respond(event(body), settings, now=NOW))

    original = webhook.store_once
    webhook.store_once = counting_store  # type: ignore[assignment]  # only to count the outcomes
    try:
        threads = [threading.Thread(target=deliver) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        webhook.store_once = original  # type: ignore[assignment]
    assert [a["statusCode"] for a in answers] == [202] * 5
    assert {answer_of(a)["key"] for a in answers} == {stored_key(body)}
    assert sorted(o.value for o in outcomes) == ["already stored"] * 4 + ["stored"]
    assert [p.name for p in stored_files(exports)] == [stored_key(body).removeprefix("webhook/")]  # no temp file left


# what it never says


def test_no_secret_and_no_personal_field_reaches_the_log_or_an_answer(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bad_email = booking("BS-7", renter_email="x" * 300 + "@example.com")
    answers = [
        respond(event(payload(booking(), bad_email)), settings, now=NOW),
        respond(event(payload(booking()), secret="wrong"), settings, now=NOW),
        respond(event(b"{oops"), settings, now=NOW),
    ]
    logged = caplog.text
    assert "webhook req-1: 202 accepted: stored webhook/" in logged
    assert "webhook req-1: 401 signature refused: X-Charter-Signature does not match the body" in logged
    assert "webhook req-1: 400 not a booking payload: the body is not JSON" in logged
    assert "[1] Renter Email" in logged
    for text in (logged, *(a["body"] for a in answers)):
        assert SECRET not in text
    for personal in ("Jane Doe", "jane.doe@example.com", "619 555 0142", "xxxx"):
        assert personal not in logged


def test_the_handler_imports_and_answers_without_airflow(tmp_path: Path) -> None:
    script = f"""
import importlib.abc, json, sys
class NoAirflow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "airflow" or name.startswith("airflow."):
            raise ImportError("airflow is not installed here")
sys.meta_path.insert(0, NoAirflow())
sys.path.insert(0, {str(PLUGINS)!r})
import time
from charter_pipeline import webhook
body = json.dumps({{"booking_id": "BS-1", "status": "approved", "boat": "Sea Breeze", "renter_name": "Jane Doe",
                    "trip_date": "2027-07-04", "start_time": "10:00", "duration_hours": 3, "passengers": 6,
                    "gross": 100}}).encode()
event = {{"requestContext": {{"http": {{"method": "POST"}}}}, "body": body.decode(), "isBase64Encoded": False,
          "headers": {{"x-charter-signature": webhook.sign(body, "s3cret", int(time.time()))}}}}
print(json.dumps(webhook.handler(event, None)))
print(json.dumps(sorted(m for m in sys.modules if m.startswith(("airflow", "charter_pipeline")))))
"""
    env = {**os.environ, "CHARTER_EXPORTS_URI": (tmp_path / "x").as_uri(), "CHARTER_WEBHOOK_SECRETS": "s3cret"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    answer_line, modules_line = done.stdout.splitlines()[-2:]
    assert json.loads(answer_line)["statusCode"] == 202
    assert json.loads(modules_line) == [
        "charter_pipeline",
        "charter_pipeline.booking",
        "charter_pipeline.exports",
        "charter_pipeline.webhook",
    ]
