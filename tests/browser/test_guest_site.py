"""The guest page as a guest gets it: Debian's Chromium, through the guest-site preview (CloudFront Function,
response headers policy, S3 on moto), at a phone and a desktop viewport.

Screenshots and print PDFs land in test-artifacts/browser/ for a human to look at.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest

from charter_pipeline.booking import Booking
from charter_pipeline.config import PipelineConfig, load_config
from charter_pipeline.guest_page import new_session_id, render_cancelled_page, render_guest_page

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
BUCKET = "queenofsandiego.com"
LA = ZoneInfo("America/Los_Angeles")
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (make system-deps installs it)"),
]


@dataclass(frozen=True)
class PublishedPage:
    """A page uploaded as the pipeline would, and what a guest should and should not see on it."""

    name: str
    session_id: str
    booking: Booking
    shows: tuple[str, ...]
    hides: tuple[str, ...] = field(default=())


def _booking(booking_id: str, name: str, start: datetime, hours: str, passengers: int, status: str) -> Booking:
    return Booking(
        booking_id=booking_id,
        status=status,
        boat="Queen of San Diego",
        renter_name=name,
        trip_date=start.date(),
        start=start,
        duration_hours=Decimal(hours),
        passengers=passengers,
        gross=Decimal("1234.50"),
        captain="Captain Ahab",
        renter_email="guest@example.com",
        renter_phone="+1 858 555 0199",
    )


def _config() -> PipelineConfig:
    return load_config(
        {
            "guest_bucket": BUCKET,
            "crew_roster": {
                "default": {
                    "captain": {"name": "Morgan Teague", "email": "morgan@example.com"},
                    "crew": [{"name": "Riley Ostrander", "email": "riley@example.com"}],
                }
            },
        }
    )


PAGES = {
    "confirmed": PublishedPage(
        name="confirmed",
        session_id=new_session_id(),
        booking=_booking("BS-884213", "Zoë O'Brien", datetime(2026, 12, 4, 10, 0, tzinfo=LA), "3", 6, "approved"),
        shows=("Zoë", "9:30 AM", "10:00 AM", "1:00 PM", "Friday, December 4, 2026", "Queen of San Diego", "6 guests"),
        hides=("O'Brien", "BS-884213", "1234.50", "guest@example.com", "555 0199", "Ahab", "Morgan", "Riley"),
    ),
    "late": PublishedPage(
        name="late",
        session_id=new_session_id(),
        booking=_booking(
            "BS-884214",
            "Maximiliana-Evangelina Wolfeschlegelsteinhausenbergerdorff",
            datetime(2026, 7, 3, 22, 30, tzinfo=LA),
            "2.5",
            1,
            "approved",
        ),
        shows=("Maximiliana-Evangelina", "10:00 PM", "1:00 AM", "the next day, Saturday", "1 guest"),
        hides=("Wolfeschlegelsteinhausenbergerdorff", "BS-884214"),
    ),
    "cancelled": PublishedPage(
        name="cancelled",
        session_id=new_session_id(),
        booking=_booking("BS-884215", "José García", datetime(2026, 12, 5, 10, 0, tzinfo=LA), "3", 4, "cancelled"),
        shows=("José", "cancelled", "Saturday, December 5, 2026", "+1 619 555 0100"),
        hides=("García", "BS-884215", "9:30 AM", "1234.50"),
    ),
}


@pytest.fixture(scope="module")
def guest_site() -> Iterator[str]:
    """moto S3 with the pages uploaded as the pipeline would, behind the guest-site preview; yields its URL."""
    from moto.server import ThreadedMotoServer

    from sandbox.preview import GuestSitePreview

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    s3.create_bucket(Bucket=BUCKET)
    config = _config()
    for page in PAGES.values():
        render = render_cancelled_page if page.booking.is_cancelled else render_guest_page
        s3.put_object(
            Bucket=BUCKET,
            Key=f"jada-guest-{page.session_id}.html",
            Body=render(page.booking, config, page.session_id).encode("utf-8"),
            ContentType="text/html; charset=utf-8",
            CacheControl="public, max-age=60",
        )
    preview = GuestSitePreview(endpoint, BUCKET, port=0)
    try:
        yield preview.start()
    finally:
        preview.stop()
        moto.stop()


@pytest.fixture(scope="module")
def browser_context() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="guest-site-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, locale="en-US"
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@dataclass
class Visit:
    """One page load with everything the page asked for and complained about."""

    page: Any
    status: int
    headers: dict[str, str]
    requests: list[str]
    console_errors: list[str]


@pytest.fixture
def visit(browser_context: Any, guest_site: str) -> Iterator[Any]:
    pages: list[Any] = []

    def open_page(path: str, viewport: str) -> Visit:
        page = browser_context.new_page()
        pages.append(page)
        page.set_viewport_size(VIEWPORTS[viewport])
        requests: list[str] = []
        errors: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        response = page.goto(guest_site + path, wait_until="load")
        assert response is not None
        return Visit(page, response.status, response.headers, requests, errors)

    yield open_page
    for page in pages:
        page.close()


def _screenshot(visit: Visit, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    visit.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("name", PAGES)
def test_guest_sees_their_page(visit: Any, guest_site: str, name: str, viewport: str) -> None:
    published = PAGES[name]
    seen = visit(f"/g/{published.session_id.lower()}", viewport)
    _screenshot(seen, f"{name}-{viewport}")

    assert seen.status == 200
    text = seen.page.inner_text("body")
    for wanted in published.shows:
        assert wanted in text, f"{wanted!r} not visible"
    html = seen.page.content()
    for unwanted in published.hides:
        assert unwanted not in html, f"{unwanted!r} is on the page"
    assert all(url.startswith(guest_site + "/") for url in seen.requests), seen.requests
    assert seen.console_errors == []
    assert "default-src 'none'" in seen.headers["content-security-policy"]
    assert seen.headers["x-robots-tag"] == "noindex, nofollow"


@pytest.mark.parametrize("name", PAGES)
def test_phone_layout_fits_and_taps_are_large(visit: Any, name: str) -> None:
    seen = visit(f"/g/{PAGES[name].session_id}", "phone")

    overflow = seen.page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, "the page scrolls sideways on a phone"
    heights = [box["height"] for box in (link.bounding_box() for link in seen.page.locator("a").all()) if box]
    assert heights, "no tap targets"
    assert min(heights) >= 44
    tel = seen.page.locator("a[href^='tel:']")
    assert tel.count() == 1
    assert tel.get_attribute("href") == "tel:+16195550100"


@pytest.mark.parametrize("name", PAGES)
def test_page_prints_on_one_sheet(visit: Any, name: str) -> None:
    seen = visit(f"/g/{PAGES[name].session_id}", "desktop")
    seen.page.emulate_media(media="print")

    pdf = seen.page.pdf(format="Letter", print_background=False)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}-print.pdf").write_bytes(pdf)
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) == 1


@pytest.mark.parametrize("path", ["/g/NOTAVALID-ID", "/g/", "/g/ABC", "/g/0000000000000"])
def test_bad_or_unknown_address_is_not_found(visit: Any, path: str) -> None:
    seen = visit(path, "phone")

    assert seen.status == 404
    assert "Page not found" in seen.page.inner_text("body")
