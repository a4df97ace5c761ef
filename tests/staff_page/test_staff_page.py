"""The "Charter bookings" page through a real ``airflow api-server`` with this repo's plugins: who may see it,
what it shows, that every name is text, and a person's walk through it in headless Chromium.

One api-server for the module (about 15-30 s to start); the ledger is filled with the pipeline's own hook calls
(sandbox/ledger_samples.py) on the sandbox's moto, behind its AWS proxy.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from sandbox.ledger_samples import NASTY_NAMES, backlog_of, quarantine_samples, record_samples, staff_samples
from sandbox.stack import SandboxStack
from tests.e2e.harness import REPO, bootstrap_on
from tests.staff_page.api_server import USER, ApiServer, api_server

CHROMIUM = Path("/usr/bin/chromium")
LA = ZoneInfo("America/Los_Angeles")
DOCS = REPO / "docs"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
ROUTES = [
    "/charter-bookings/",
    "/charter-bookings/api/bookings",
    "/charter-bookings/doctor",
    "/charter-bookings/api/doctor",
]


class _GuestPages(BaseHTTPRequestHandler):
    """Stands in for the guest site, so following a guest link stays on loopback."""

    def do_GET(self) -> None:
        body = f"<!doctype html><title>Guest page</title><h1>Guest page {self.path.rsplit('/', 1)[-1]}</h1>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass(frozen=True)
class Deployment:
    server: ApiServer
    stack: SandboxStack
    today: date
    token: str

    def get(self, path: str, **params: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.get(self.server.url + path, params=params, headers=headers, timeout=60)

    @property
    def secrets(self) -> list[str]:
        return [self.stack.dashboard_token, self.stack.scc_service_key, self.stack.aws_secret_access_key,
                self.server.password]  # fmt: skip


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    guest_site = ThreadingHTTPServer(("127.0.0.1", 0), _GuestPages)
    threading.Thread(target=guest_site.serve_forever, daemon=True).start()
    variable = {
        "ledger_table": "staff-page-ledger",
        "exports_uri": "s3://staff-page-exports/incoming/",
        "quarantine_uri": "s3://staff-page-exports/quarantine/",
        "guest_base_url": f"http://127.0.0.1:{guest_site.server_address[1]}/g/",
    }
    try:
        with SandboxStack(tmp_path_factory.mktemp("staff-stack")) as stack:
            bootstrap_on(stack, variable)
            today = datetime.now(LA).date()
            with pytest.MonkeyPatch.context() as patch:
                for name, value in stack.connections_env().items():
                    patch.setenv(name, value)
                from charter_pipeline.hooks.exports import ExportsHook
                from charter_pipeline.hooks.ledger import LedgerHook
                from charter_pipeline.stores.poll_state import PollState, PollStateStore

                ledger = LedgerHook(variable["ledger_table"])
                samples = staff_samples(today, LA)
                record_samples(ledger, samples, datetime.now(UTC))
                PollStateStore(ledger).save_poll_state(PollState(backlog=backlog_of(samples)))
                for name, record in quarantine_samples():
                    ExportsHook().write_quarantine(variable["quarantine_uri"], name, record)
            home = tmp_path_factory.mktemp("staff-airflow-home")
            with api_server(home, connections=stack.connections_env(), variable=variable) as server:
                yield Deployment(server, stack, today, server.token())
            stack.moto.reset()
    finally:
        guest_site.shutdown()
        guest_site.server_close()


# --- who may see it --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_no_route_answers_without_a_signed_in_user(deployment: Deployment, route: str) -> None:
    url = deployment.server.url + route
    assert requests.get(url, timeout=30).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer not-a-token"}, timeout=30).status_code == 403
    assert requests.get(url, cookies={"_token": "forged"}, timeout=30).status_code == 403
    # A person's browser is sent to Airflow's login page, and back here afterwards.
    browser = requests.get(url, headers={"Accept": "text/html"}, allow_redirects=False, timeout=30)
    assert browser.status_code == 303
    assert browser.headers["location"].startswith("/auth/login")
    assert "charter-bookings" in browser.headers["location"]
    assert "Charter" not in browser.text
    assert "STAFF-" not in browser.text


def test_a_bearer_token_or_the_ui_cookie_is_enough(deployment: Deployment) -> None:
    assert deployment.get("/charter-bookings/api/bookings").status_code == 200
    cookie = requests.get(
        deployment.server.url + "/charter-bookings/api/bookings", cookies={"_token": deployment.token}, timeout=60
    )
    assert cookie.status_code == 200


# --- what it shows ---------------------------------------------------------------------------------------------


def test_the_json_lists_upcoming_charters_by_departure_with_every_artifact_state(deployment: Deployment) -> None:
    answer = deployment.get("/charter-bookings/api/bookings")
    assert answer.status_code == 200
    board = answer.json()
    ids = [row["booking_id"] for row in board["charters"]]
    assert ids == [f"STAFF-100{n}" for n in range(1, 7)]  # sorted by departure; STAFF-1006 is 20 days out
    first = board["charters"][0]
    assert first["guest"] == "Jane D."  # first name and last initial only
    assert first["local_time"] == "10:00"
    assert {a["step"]: a["state"] for a in first["artifacts"]} == dict.fromkeys(
        ["calendar", "scc", "scrub", "page", "invalidation"], "done"
    )
    assert first["crew"] == [
        {"name": "Sam Skipper", "role": "captain", "response": "accepted"},
        {"name": "Dee Deckhand", "role": "crew", "response": "pending"},
    ]
    assert first["guest_url"].endswith("/g/K7M2Q9XW4HB3T")
    by_id = {row["booking_id"]: row for row in board["charters"]}
    assert by_id["STAFF-1002"]["artifacts"][-1]["state"] == "skipped"
    failed = {a["step"]: a["state"] for a in by_id["STAFF-1003"]["artifacts"]}
    assert failed == {
        "calendar": "done",
        "scc": "failed",
        "scrub": "pending",
        "page": "pending",
        "invalidation": "pending",
    }
    assert "HTTP 503" in by_id["STAFF-1003"]["error"]
    assert by_id["STAFF-1003"]["guest_url"] == ""
    assert {a["state"] for a in by_id["STAFF-1004"]["artifacts"]} == {"pending"}
    assert by_id["STAFF-1004"]["crew"] is None
    assert [row["booking_id"] for row in board["failed"]] == ["STAFF-1003"]
    assert sorted(q["row"] for q in board["quarantined"]) == [4, 7]
    assert any("Trip Date" in q["reason"] for q in board["quarantined"])


def test_filters_by_dates_and_status(deployment: Deployment) -> None:
    day = deployment.today
    two_days = deployment.get(
        "/charter-bookings/api/bookings", **{"from": str(day + timedelta(days=2)), "to": str(day + timedelta(days=3))}
    ).json()
    assert [row["booking_id"] for row in two_days["charters"]] == ["STAFF-1002", "STAFF-1003"]
    cancelled = deployment.get("/charter-bookings/api/bookings", status="cancelled").json()
    assert [row["booking_id"] for row in cancelled["charters"]] == ["STAFF-1005"]
    failing = deployment.get("/charter-bookings/api/bookings", status="failed").json()
    assert [row["booking_id"] for row in failing["charters"]] == ["STAFF-1003"]
    later = deployment.get("/charter-bookings/api/bookings", **{"from": str(day + timedelta(days=10))}).json()
    assert [row["booking_id"] for row in later["charters"]] == ["STAFF-1006"]
    for bad in (
        {"from": "31/12/2026"},
        {"to": "tomorrow"},
        {"status": "sunk"},
        {"from": "2026-05-02", "to": "2026-05-01"},
    ):
        refused = deployment.get("/charter-bookings/api/bookings", **bad)
        assert refused.status_code == 422
        assert next(iter(bad)) in refused.json()["detail"]


def test_every_name_is_text_and_nothing_private_or_secret_is_shown(deployment: Deployment) -> None:
    page = deployment.get("/charter-bookings/")
    assert page.status_code == 200
    html = page.text
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;Eve E." in html
    assert "&lt;b&gt;Bold&lt;/b&gt; Boat" in html
    assert "&#34;&gt;&lt;img O." in html  # "\"><img src=x ... O'Brien": its first word and last initial
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # a quarantine reason
    for raw in ["<script>alert", "<img src=x", "<b>Bold"]:
        assert raw not in html
    assert html.count("<script") == 1  # the theme script, with this response's nonce
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "http" not in csp
    assert "https://" not in html.split("<body>", 1)[0]  # no outside stylesheet, font or script
    for text in [html, deployment.get("/charter-bookings/api/bookings").text]:
        for private in [*deployment.secrets, "guest@example.com", "555 0199", "1250", "Evans", "Doe"]:
            assert private not in text
    for name in NASTY_NAMES:
        assert name not in html


def test_the_doctor_is_on_the_page_for_a_signed_in_user(deployment: Deployment) -> None:
    answer = deployment.get("/charter-bookings/api/doctor").json()
    checks = {check["check"]: check for check in answer["checks"]}
    assert checks["ledger table 'staff-page-ledger'"]["ok"] is True
    assert checks["jada_dashboard"]["ok"] is True
    assert checks["CloudFront distribution"]["ok"] is None  # no distribution in this deployment: a warning
    html = deployment.get("/charter-bookings/doctor").text
    assert "ok    scc_api host" in html or "ok  &nbsp;" in html or "scc_api host" in html
    for secret in deployment.secrets:
        assert secret not in html
        assert secret not in json.dumps(answer)


# --- a person's walk through it --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(deployment: Deployment) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (make system-deps installs it)")
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="staff-page-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, locale="en-US",
                viewport={"width": 1280, "height": 900},
            )  # fmt: skip
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def sign_in_through(page: Any, deployment: Deployment) -> None:
    """Open the page; when the browser has no session yet, Airflow's login page comes first, then the page."""
    page.goto(deployment.server.url + "/charter-bookings/", wait_until="networkidle")
    if "/auth/login" in page.url:
        page.wait_for_selector("input[name=username]", timeout=60_000)
        page.fill("input[name=username]", USER)
        page.fill("input[name=password]", deployment.server.password)
        page.keyboard.press("Enter")
        page.wait_for_url("**/charter-bookings/", timeout=60_000)
    page.wait_for_load_state("networkidle")


@pytest.mark.browser
def test_sign_in_open_it_from_the_navigation_filter_and_follow_a_guest_link(
    deployment: Deployment, browser: Any
) -> None:
    from playwright.sync_api import expect

    page = browser.new_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None,
    )
    sign_in_through(page, deployment)
    expect(page.locator("tbody tr[data-booking]")).to_have_count(6, timeout=30_000)  # back where it was headed

    page.goto(deployment.server.url + "/", wait_until="networkidle")
    page.get_by_role("button", name="Browse").click()
    with page.context.expect_page() as opened:
        page.get_by_role("menuitem", name="Charter bookings").click()
    staff = opened.value
    staff.set_viewport_size({"width": 1280, "height": 900})
    staff.on("request", lambda r: outside.append(r.url) if not r.url.startswith("http://127.0.0.1") else None)
    staff.locator("tr[data-booking=STAFF-1001]").wait_for(timeout=30_000)
    expect(staff.locator("tbody tr[data-booking]")).to_have_count(6)
    expect(staff.locator("tr[data-booking=STAFF-1001]")).to_contain_text("Jane D.")
    expect(staff.locator("tr[data-booking=STAFF-1003]")).to_contain_text("HTTP 503")
    DOCS.mkdir(exist_ok=True)
    staff.screenshot(path=str(DOCS / "charter-bookings-desktop.png"), full_page=True)

    staff.locator("select[name=status]").select_option("cancelled")
    staff.get_by_role("button", name="Show").click()
    expect(staff.locator("tbody tr[data-booking]")).to_have_count(1, timeout=30_000)
    expect(staff.locator("tr[data-booking=STAFF-1005]")).to_contain_text("cancelled")
    assert "status=cancelled" in staff.url

    staff.locator("select[name=status]").select_option("")
    staff.get_by_role("button", name="Show").click()
    expect(staff.locator("tbody tr[data-booking]")).to_have_count(6, timeout=30_000)
    with staff.context.expect_page() as guest_tab:
        staff.locator("tr[data-booking=STAFF-1001] a", has_text="open").click()
    guest = guest_tab.value
    guest.wait_for_load_state()
    assert guest.locator("h1").inner_text() == "Guest page K7M2Q9XW4HB3T"
    for opened_page in (guest, staff, page):
        opened_page.close()
    assert outside == []


@pytest.mark.browser
def test_readable_at_phone_width(deployment: Deployment, browser: Any) -> None:
    page = browser.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in_through(page, deployment)
    page.locator("tr[data-booking=STAFF-1001]").wait_for(timeout=30_000)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide at a 390px viewport"
    page.screenshot(path=str(DOCS / "charter-bookings-phone.png"), full_page=True)

    # The UI's own theme choice (next-themes keeps it in localStorage, same origin) is followed.
    page.evaluate("window.localStorage.setItem('theme', 'dark')")
    page.reload(wait_until="networkidle")
    assert page.evaluate("document.documentElement.classList.contains('dark')")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(26, 26, 30)"
    page.evaluate("window.localStorage.setItem('theme', 'light')")
    page.reload(wait_until="networkidle")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
