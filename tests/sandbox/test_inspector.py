"""sandbox.inspector over a moto server and two tiny stand-ins that answer /_sandbox/state."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from charter_pipeline.config import load_config
from sandbox.inspector import (
    Inspector,
    InspectorSources,
    Section,
    collect,
    main,
    render_html,
    render_text,
    secrets_from_environment,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudfront.client import CloudFrontClient
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client

# Made-up stand-in secrets the page must never show.
DASHBOARD_TOKEN = "jada-dashboard-token-4f7c1e"
SERVICE_KEY = "scc-service-key-9b2d77"
MARKUP = "<script>alert('x')</script>"

JADA_STATE = {
    "entries": [
        {
            "id": "cal-0001",
            "external_id": "boatsetter:BS-480117",
            "status": "confirmed",
            "charter_date": "2026-11-27",
            "boat": "Sea Breeze",
            "guest_name": f"Jane {MARKUP}",
            "party_size": 6,
            "net_revenue": 289.41,
            "notes": f"left by a careless stand-in: {DASHBOARD_TOKEN}",
            "dashboard_token": DASHBOARD_TOKEN,
        }
    ],
    "requests": [{"method": "POST", "path": "/calendar", "headers": {"X-Dashboard-Token": DASHBOARD_TOKEN}}],
}
SCC_STATE = {
    "events": [{"event_id": "ev-0001", "external_ref": "boatsetter:BS-480117"}],
    "outbox": [
        {
            "to": "dana.whitfield@example.com",
            "subject": "New charter: Sea Breeze",
            "event_id": "ev-0001",
            "authorization": f"Bearer {SERVICE_KEY}",
        }
    ],
    "requests": [{"headers": {"Authorization": f"Bearer {SERVICE_KEY}"}}],
}


class _StandIn(BaseHTTPRequestHandler):
    state: ClassVar[dict[str, Any]] = {}

    def do_GET(self) -> None:
        if self.path != "/_sandbox/state":
            self.send_error(404)
            return
        body = json.dumps(self.state).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def _serve(state: dict[str, Any]) -> ThreadingHTTPServer:
    handler = type("StandIn", (_StandIn,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def services() -> Iterator[dict[str, str]]:
    """Stand-ins for JADA and SCC plus a moto server holding what a pipeline run leaves behind."""
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    aws = f"http://{host}:{port}"
    # moto keeps one set of AWS data per process, whichever server serves it: start clean, leave nothing behind.
    requests.post(f"{aws}/moto-api/reset", timeout=10).raise_for_status()
    jada, scc = _serve(JADA_STATE), _serve(SCC_STATE)
    distribution = _fill_aws(aws)
    yield {
        "aws": aws,
        "jada": f"http://127.0.0.1:{jada.server_address[1]}",
        "scc": f"http://127.0.0.1:{scc.server_address[1]}/prod",
        "distribution": distribution,
    }
    jada.shutdown()
    scc.shutdown()
    requests.post(f"{aws}/moto-api/reset", timeout=10).raise_for_status()
    moto.stop()


def _moto(url: str) -> dict[str, Any]:
    return {
        "endpoint_url": url,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }


def _fill_aws(url: str) -> str:
    dynamodb: DynamoDBClient = boto3.client("dynamodb", **_moto(url))
    s3: S3Client = boto3.client("s3", **_moto(url))
    cloudfront: CloudFrontClient = boto3.client("cloudfront", **_moto(url))
    for table, key in (("charter-booking-ledger", "booking_id"), ("scc-events", "event_id")):
        dynamodb.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    dynamodb.put_item(
        TableName="scc-events",
        Item={
            "event_id": {"S": "ev-0001"},
            "external_ref": {"S": "boatsetter:BS-480117"},
            "boat": {"S": "Sea Breeze"},
            "notes": {"S": "Guest: Jane D.\nMeet at the Sheraton dock"},
            "deck_plan": {"S": "standard"},
        },
    )
    snapshot = {"renter_name": "Jane Doe", "trip_date": "2026-11-27"}
    dynamodb.put_item(
        TableName="charter-booking-ledger",
        Item={
            "booking_id": {"S": "BS-480117"},
            "snapshot": {"S": json.dumps(snapshot)},
            "status": {"S": "approved"},
            "state": {"S": "published"},
            "session_id": {"S": "7KQ2M9XWB4H1C"},
            "calendar_id": {"S": "cal-0001"},
            "scc_event_id": {"S": "ev-0001"},
        },
    )
    files = gzip.compress(json.dumps({"s3://jada-boatsetter-exports/incoming/a.csv": "v1"}).encode())
    dynamodb.put_item(
        TableName="charter-booking-ledger",
        Item={"booking_id": {"S": "#poll-state"}, "files": {"B": files}, "backlog": {"S": '["BS-480131"]'}},
    )
    s3.create_bucket(Bucket="jada-boatsetter-exports")
    record = {"source": "a.csv", "row": 9, "reason": "Passengers: '0' must be a whole number", "raw": {"b": MARKUP}}
    s3.put_object(Bucket="jada-boatsetter-exports", Key="quarantine/a.csv-row-9.json", Body=json.dumps(record).encode())
    created = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": "inspector-test",
            "Comment": "",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "guest",
                        "DomainName": "queenofsandiego.com.s3.us-east-1.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {"TargetOriginId": "guest", "ViewerProtocolPolicy": "allow-all"},
        }
    )
    distribution = created["Distribution"]["Id"]
    cloudfront.create_invalidation(
        DistributionId=distribution,
        InvalidationBatch={
            "Paths": {"Quantity": 2, "Items": ["/g/7KQ2M9XWB4H1C", "/jada-guest-7KQ2M9XWB4H1C.html"]},
            "CallerReference": "7KQ2M9XWB4H1C-abc123",
        },
    )
    return distribution


def _sources(services: dict[str, str], **overrides: Any) -> InspectorSources:
    values: dict[str, Any] = {
        "jada_url": services["jada"],
        "scc_url": services["scc"],
        "aws_endpoint": services["aws"],
        "config": load_config({"cloudfront_distribution_id": services["distribution"]}),
        "secrets": (DASHBOARD_TOKEN, SERVICE_KEY),
    }
    values.update(overrides)
    return InspectorSources(**values)


def _section(sections: list[Section], starts: str) -> Section:
    return next(s for s in sections if s.title.startswith(starts))


def _column(section: Section, name: str) -> list[str]:
    index = section.columns.index(name)
    return [row[index] for row in section.rows]


def test_collects_every_part_of_the_stack(services: dict[str, str]) -> None:
    sections = collect(_sources(services))

    assert _column(_section(sections, "Calendar entries"), "id") == ["cal-0001"]
    scc = _section(sections, "SCC events as stored")
    assert _column(scc, "event_id") == ["ev-0001"]
    assert _column(scc, "notes") == ["Guest: Jane D.\nMeet at the Sheraton dock"]
    assert "deck_plan" in _column(scc, "other")[0]
    assert _column(_section(sections, "E-mail outbox"), "to") == ["dana.whitfield@example.com"]
    invalidations = _section(sections, "CloudFront invalidations")
    assert _column(invalidations, "paths") == ["/g/7KQ2M9XWB4H1C /jada-guest-7KQ2M9XWB4H1C.html"]
    assert _column(invalidations, "caller_reference") == ["7KQ2M9XWB4H1C-abc123"]
    ledger = _section(sections, "Ledger: bookings")
    assert _column(ledger, "booking_id") == ["BS-480117"]
    assert _column(ledger, "guest") == ["Jane"]
    assert _column(ledger, "state") == ["published"]
    bookkeeping = _section(sections, "Ledger: the pipeline's bookkeeping")
    assert _column(bookkeeping, "item") == ["#poll-state"]
    assert "a.csv" in _column(bookkeeping, "contents")[0]
    assert "BS-480131" in _column(bookkeeping, "contents")[0]
    quarantine = _section(sections, "Quarantined rows")
    assert _column(quarantine, "reason") == ["Passengers: '0' must be a whole number"]
    assert _column(quarantine, "source") == ["a.csv"]
    assert _column(quarantine, "row") == ["9"]


def test_invalidations_of_every_distribution_when_none_is_configured(services: dict[str, str]) -> None:
    sections = collect(_sources(services, config=load_config(None)))

    assert _column(_section(sections, "CloudFront invalidations"), "distribution") == [services["distribution"]]


def test_the_page_escapes_markup_and_refreshes(services: dict[str, str]) -> None:
    page = render_html(collect(_sources(services)))

    assert MARKUP not in page
    assert "<script" not in page
    assert "&lt;script&gt;" in page
    assert '<meta http-equiv="refresh" content="5">' in page
    assert "Sheraton dock" in page


def test_never_shows_a_token_or_key(services: dict[str, str]) -> None:
    sections = collect(_sources(services))

    for shown in (render_html(sections), render_text(sections)):
        assert DASHBOARD_TOKEN not in shown
        assert SERVICE_KEY not in shown
        assert "dashboard_token" not in shown
        assert "authorization" not in shown.lower()
    assert "[hidden]" in _column(_section(sections, "Calendar entries"), "notes")[0]


def test_ledger_rows_link_their_guest_page_in_the_preview(services: dict[str, str]) -> None:
    sections = collect(_sources(services, preview_url="http://127.0.0.1:8090"))

    assert _column(_section(sections, "Ledger: bookings"), "guest_page") == ["http://127.0.0.1:8090/g/7KQ2M9XWB4H1C"]
    page = render_html(sections)
    assert '<a href="http://127.0.0.1:8090/g/7KQ2M9XWB4H1C">' in page


def test_only_web_addresses_become_links() -> None:
    section = Section(
        "t", ["guest_page"], [["javascript:alert(1)"], ['http://x/"onmouseover="y']], links=("guest_page",)
    )

    page = render_html([section])

    assert "<a " not in page
    assert "javascript:alert(1)" in page


def test_an_unreachable_source_is_reported_and_the_rest_still_shown(services: dict[str, str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    sections = collect(_sources(services, jada_url=closed))

    assert _section(sections, "Calendar entries").note.startswith("unreadable: ConnectionError")
    assert _column(_section(sections, "Ledger: bookings"), "booking_id") == ["BS-480117"]


def test_quarantine_in_a_folder(services: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "q").mkdir()
    record = {"source": "b.json", "row": 2, "reason": "Trip Date: '2027-02-30' is not a date", "raw": {}}
    (tmp_path / "q" / "b.json-row-2.json").write_text(json.dumps(record))
    config = load_config({"quarantine_uri": f"file://{tmp_path}/q/"})

    quarantine = _section(collect(_sources(services, config=config)), "Quarantined rows")

    assert _column(quarantine, "reason") == ["Trip Date: '2027-02-30' is not a date"]


def test_the_server_answers_get_only(services: dict[str, str]) -> None:
    with Inspector(_sources(services), port=0) as inspector:
        page = requests.get(inspector.url, timeout=20)
        assert page.status_code == 200
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "Calendar entries (JADA) (1)" in page.text
        assert DASHBOARD_TOKEN not in page.text
        assert requests.post(inspector.url, timeout=5).status_code == 405
        assert requests.get(inspector.url + "elsewhere", timeout=5).status_code == 404


def test_secrets_come_from_the_connections_in_the_environment() -> None:
    environ = {
        "AIRFLOW_CONN_JADA_DASHBOARD": json.dumps({"conn_type": "http", "host": "http://x", "password": "tok-1"}),
        "AIRFLOW_CONN_SCC_API": "http://:key-2@127.0.0.1:8082/prod",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {"conn_type": "aws", "login": "AKIDEXAMPLE", "password": "aws-3", "extra": {"aws_session_token": "s-4"}}
        ),
        "HOME": "/root",
    }

    assert sorted(secrets_from_environment(environ)) == ["aws-3", "key-2", "s-4", "tok-1"]


def test_once_prints_the_tables(
    services: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    variable = json.dumps({"cloudfront_distribution_id": services["distribution"]})
    args = ["--once", "--jada-url", services["jada"], "--scc-url", services["scc"], "--aws-endpoint", services["aws"]]
    monkeypatch.setenv("AIRFLOW_CONN_JADA_DASHBOARD", json.dumps({"conn_type": "http", "password": DASHBOARD_TOKEN}))

    assert main([*args, "--variable", variable]) == 0

    out = capsys.readouterr().out
    assert DASHBOARD_TOKEN not in out
    assert "== Calendar entries (JADA) (1) ==" in out
    assert "== Quarantined rows (1) ==" in out
    assert "7KQ2M9XWB4H1C" in out
    assert "Guest: Jane D. | Meet at the Sheraton dock" in out
