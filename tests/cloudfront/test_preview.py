"""sandbox/preview.py over HTTP: the project's CloudFront Function in front of a moto bucket, with the policy's
headers, as the browser tests and a developer use it.
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import boto3
import pytest

from sandbox.preview import GuestSitePreview, policy_headers, viewer_request_event

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is missing (make system-deps installs it)")

BUCKET = "queenofsandiego.com"
PAGE = "<!doctype html><title>Zoë</title><p>See you on the water, Zoë!</p>"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(
        Bucket=BUCKET,
        Key="jada-guest-7K3QX9MZ2ABCD.html",
        Body=PAGE.encode("utf-8"),
        ContentType="text/html; charset=utf-8",
        CacheControl="public, max-age=60",
    )
    s3.put_object(Bucket=BUCKET, Key="robots.txt", Body=b"User-agent: *\nDisallow: /g/\n", ContentType="text/plain")
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture(scope="module")
def preview(s3_endpoint: str) -> Iterator[GuestSitePreview]:
    with GuestSitePreview(s3_endpoint, BUCKET, port=0) as running:
        yield running


def fetch(url: str, method: str = "GET") -> tuple[int, Message, bytes]:
    """Status, headers (names match case-insensitively, as in HTTP) and body."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.mark.parametrize("path", ["/g/7k3qx9mz2abcd", "/g/7K3QX9MZ2ABCD/", "/g/7k3qx9mz2abcd?utm_source=sms"])
def test_a_guest_address_serves_the_page_with_the_policy_headers(preview: GuestSitePreview, path: str) -> None:
    status, headers, body = fetch(preview.url + path)

    assert status == 200
    assert body.decode("utf-8") == PAGE
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "public, max-age=60"
    for name, value in preview.headers().items():
        assert headers[name] == value
    assert headers["X-Robots-Tag"] == "noindex, nofollow"


def test_head_answers_headers_only(preview: GuestSitePreview) -> None:
    status, headers, body = fetch(preview.url + "/g/7K3QX9MZ2ABCD", method="HEAD")

    assert status == 200
    assert body == b""
    assert headers["Content-Length"] == str(len(PAGE.encode("utf-8")))


def test_other_paths_reach_the_bucket_unchanged(preview: GuestSitePreview) -> None:
    status, headers, body = fetch(preview.url + "/robots.txt")

    assert status == 200
    assert headers["Content-Type"] == "text/plain"
    assert body.startswith(b"User-agent")


@pytest.mark.parametrize("path", ["/g/ABC", "/g/", "/g", "/g/7K3QX9MZ2ABCD/extra"])
def test_a_404_from_the_function_is_a_404(preview: GuestSitePreview, path: str) -> None:
    status, headers, body = fetch(preview.url + path)

    assert status == 404
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["X-Robots-Tag"] == "noindex, nofollow"
    assert b"Page not found" in body


@pytest.mark.parametrize("path", ["/g/0000000000000", "/missing.html"])
def test_a_missing_object_is_a_404(preview: GuestSitePreview, path: str) -> None:
    status, headers, body = fetch(preview.url + path)

    assert status == 404
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert b"Page not found" in body


def test_a_broken_function_answers_503_like_cloudfront(s3_endpoint: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.js"
    broken.write_text("function handler(event) { return event.request.nothing.here; }\n", encoding="utf-8")
    with GuestSitePreview(s3_endpoint, BUCKET, port=0, function_path=broken) as running:
        status, _, _ = fetch(running.url + "/g/7K3QX9MZ2ABCD")

    assert status == 503


def test_an_edited_function_is_picked_up_without_a_restart(s3_endpoint: str, tmp_path: Path) -> None:
    function = tmp_path / "edited.js"
    function.write_text("function handler(event) { return event.request; }\n", encoding="utf-8")
    with GuestSitePreview(s3_endpoint, BUCKET, port=0, function_path=function) as running:
        assert fetch(running.url + "/robots.txt")[0] == 200
        function.write_text(
            "function handler(event) { return { statusCode: 403, statusDescription: 'Forbidden' }; }\n",
            encoding="utf-8",
        )
        # mtime resolution can be coarse; make the edit visibly newer.
        stat = function.stat()
        os.utime(function, (stat.st_atime, stat.st_mtime + 5))
        assert fetch(running.url + "/robots.txt")[0] == 403


def test_events_have_cloudfronts_shape() -> None:
    event: dict[str, Any] = viewer_request_event(
        "GET", "/g/abc?x=1&x=2&y=", {"Host": "queenofsandiego.com", "Accept": "text/html"}
    )

    assert event["version"] == "1.0"
    assert event["context"]["eventType"] == "viewer-request"
    assert event["request"]["uri"] == "/g/abc"
    assert event["request"]["querystring"] == {
        "x": {"value": "1", "multiValue": [{"value": "1"}, {"value": "2"}]},
        "y": {"value": ""},
    }
    assert event["request"]["headers"] == {"host": {"value": "queenofsandiego.com"}, "accept": {"value": "text/html"}}


def test_policy_headers_cover_every_part_of_a_policy() -> None:
    headers = policy_headers(
        {
            "SecurityHeadersConfig": {
                "StrictTransportSecurity": {"AccessControlMaxAgeSec": 600, "IncludeSubdomains": True, "Preload": True},
                "XSSProtection": {"Protection": True, "ModeBlock": True},
                "ContentTypeOptions": {"Override": True},
            },
            "CustomHeadersConfig": {"Quantity": 1, "Items": [{"Header": "X-Test", "Value": "1", "Override": True}]},
        }
    )

    assert headers == {
        "Strict-Transport-Security": "max-age=600; includeSubDomains; preload",
        "X-XSS-Protection": "1; mode=block",
        "X-Content-Type-Options": "nosniff",
        "X-Test": "1",
    }


def test_the_root_lists_every_guest_page_by_its_address(preview: GuestSitePreview) -> None:
    status, headers, body = fetch(preview.url + "/")

    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    page = body.decode("utf-8")
    assert '<a href="/g/7K3QX9MZ2ABCD">' in page
    assert "<td>Zoë</td>" in page  # the page's own title
    assert "robots.txt" not in page
    assert '<meta name="robots" content="noindex, nofollow">' in page
    # Every link it lists is served.
    assert fetch(preview.url + "/g/7K3QX9MZ2ABCD")[0] == 200


def test_the_local_stacks_guest_addresses_are_the_previews(preview: GuestSitePreview) -> None:
    from charter_pipeline.config import load_config
    from sandbox.run import local_variable

    config = load_config(local_variable("E1LOCAL", preview.url))

    assert config.guest_base_url == f"{preview.url}/g/"
    assert config.guest_bucket == BUCKET
    status, _, body = fetch(f"{config.guest_base_url}7K3QX9MZ2ABCD")
    assert (status, body.decode("utf-8")) == (200, PAGE)


def test_the_root_shows_the_title_of_a_page_the_pipeline_rendered(s3_endpoint: str, preview: GuestSitePreview) -> None:
    """A real guest page's <title> comes after about 6 KB of inline style in its head: the index still shows it."""
    from charter_pipeline.config import load_config
    from charter_pipeline.guest_page import render_retired_page

    rendered = render_retired_page(load_config(None))
    assert rendered.index("<title>") > 4096
    s3 = boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    s3.put_object(Bucket=BUCKET, Key="jada-guest-RETIRED2345ABC.html", Body=rendered.encode("utf-8"))

    page = fetch(preview.url + "/")[2].decode("utf-8")
    assert "<td>This charter page is no longer available</td>" in page
