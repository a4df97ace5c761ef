"""The "Trigger DAG" form as a person uses it: Debian's Chromium against a real ``airflow api-server`` that serves
the pipeline's DAG (issue 22 point 2).

Airflow's form clamps a number field to its schema's minimum and maximum when it loses focus, so a typed -50 went
in as 0 and was published. The form's fields are patterned text now: what is typed stays as typed, and Airflow
refuses a value that breaks the pattern when Trigger is pressed, naming the param, before any run exists.
Screenshots land in test-artifacts/browser/ for a human to look at.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from sandbox.run import airflow_env
from tests.e2e.harness import AIRFLOW, DAG_ID, REPO, migrated_home
from tests.staff_page.api_server import USER, ApiServer, api_server

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip

BOOKING = {
    "booking_id": "BS-480131", "status": "approved", "boat": "Sea Breeze", "renter_name": "Jane Doe",
    "trip_date": "2027-01-15", "start_time": "14:00", "duration_hours": "3", "passengers": "5", "gross": "840.75",
}  # fmt: skip

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (make system-deps installs it)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """An API server whose metadata database holds the pipeline's DAG (as a dag-processor would have put it)."""
    home = migrated_home(tmp_path_factory.mktemp("trigger-form"))
    env = airflow_env(home, connections={}, variable={})
    parsed = subprocess.run(
        [AIRFLOW, "dags", "reserialize"], env=env, cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert parsed.returncode == 0, parsed.stdout[-2000:] + parsed.stderr[-2000:]
    # One run of a booking the pipeline refuses (gross -50 in conf booking): its first task fails before any outside
    # call, so no service is needed; the run's page must say why.
    refused = subprocess.run(
        [AIRFLOW, "dags", "test", DAG_ID, "-c", json.dumps({"booking": {**BOOKING, "gross": "-50"}})],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert refused.returncode != 0, refused.stdout[-2000:]
    with api_server(home, connections={}, variable={}) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="trigger-form-chromium-")
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


def sign_in(page: Any, server: ApiServer) -> None:
    # A browser without a session is sent to the login page once the UI's scripts have run; one with a session
    # sees the navigation.
    page.goto(server.url + "/", wait_until="networkidle")
    page.wait_for_selector("input[name=username], a[href*='/dags']", timeout=60_000)
    if page.locator("input[name=username]").count():
        page.fill("input[name=username]", USER)
        page.fill("input[name=password]", server.password)
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url: "/auth/login" not in url, timeout=60_000)
        page.wait_for_load_state("networkidle")


def open_the_form(page: Any, server: ApiServer) -> None:
    sign_in(page, server)
    page.goto(f"{server.url}/dags/{DAG_ID}", wait_until="networkidle")
    page.get_by_role("button", name="Trigger").first.click(timeout=60_000)
    page.get_by_text("Booking to process now").click(timeout=60_000)


def runs(server: ApiServer) -> int:
    answer = requests.get(
        f"{server.url}/api/v2/dags/{DAG_ID}/dagRuns",
        headers={"Authorization": f"Bearer {server.token()}"},
        timeout=30,
    )
    answer.raise_for_status()
    return int(answer.json()["total_entries"])


def test_a_typed_negative_gross_is_kept_as_typed_and_refused_naming_the_field(server: ApiServer, browser: Any) -> None:
    from playwright.sync_api import expect

    runs_before = runs(server)
    page = browser.new_page()
    open_the_form(page, server)
    typed = {"booking_id": "BS-480131", "boat": "Sea Breeze", "renter_name": "Jane Doe", "start_time": "25:99",
             "duration_hours": "30", "passengers": "200", "gross": "-50"}  # fmt: skip
    for name, text in typed.items():
        field = page.locator(f"#element_{name}")
        field.click()
        page.keyboard.type(text)  # key by key, as a person types
        page.keyboard.press("Tab")  # leaving the field is when a number field clamped (issue 22)
    for name, text in typed.items():
        expect(page.locator(f"#element_{name}")).to_have_value(text)
    page.locator("#element_gross").scroll_into_view_if_needed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "trigger-form-typed.png"))

    page.get_by_role("button", name="Trigger").last.click()

    refusal = page.get_by_text("Invalid input for param")
    expect(refusal).to_be_visible(timeout=60_000)
    refusal.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "trigger-form-refused.png"))
    # Airflow checks the params in order and names the first bad one: start_time comes before the numbers.
    assert "param start_time: '25:99' does not match" in refusal.inner_text()
    expect(page.locator("#element_gross")).to_have_value("-50")  # still as typed after the refusal
    assert runs(server) == runs_before

    page.locator("#element_start_time").fill("14:00")
    page.locator("#element_duration_hours").fill("3")
    page.locator("#element_passengers").fill("6")
    # The first refusal's toast lies over the button for a while: press it from the keyboard.
    page.get_by_role("button", name="Trigger").last.focus()
    page.keyboard.press("Enter")
    gross_refused = page.get_by_text("Invalid input for param gross: '-50' does not match")
    expect(gross_refused).to_be_visible(timeout=60_000)
    gross_refused.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "trigger-form-refused-gross.png"))
    expect(page.locator("#element_gross")).to_have_value("-50")
    assert runs(server) == runs_before
    page.close()


def test_a_run_that_refused_its_booking_says_why_on_its_page(server: ApiServer, browser: Any) -> None:
    """What only the pipeline checks is refused by the run's first task; the line naming the field is on the run's
    page (tab "Task Instances"), no task log to open (issue 22 point 2)."""
    from playwright.sync_api import expect

    answer = requests.get(
        f"{server.url}/api/v2/dags/{DAG_ID}/dagRuns", headers={"Authorization": f"Bearer {server.token()}"}, timeout=30
    )
    [run] = [r for r in answer.json()["dag_runs"] if r["state"] == "failed"]
    page = browser.new_page()
    sign_in(page, server)
    page.goto(f"{server.url}/dags/{DAG_ID}/runs/{quote(run['dag_run_id'], safe='')}", wait_until="networkidle")
    refusal = page.get_by_text("Manual booking refused: Gross: '-50' must be an amount in USD, zero or more")
    expect(refusal).to_be_visible(timeout=60_000)
    expect(page.get_by_text("collect_bookings did not finish: nothing was processed")).to_be_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "run-page-refusal.png"))
    page.close()
