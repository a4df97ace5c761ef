"""`make demo` end to end: the sample exports through a real `airflow dags test`, judged by the demo's own tables;
then two real `airflow dags test charter_aftercare <instant>` runs: a crew alert, then a retired guest page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sandbox.aws import DEFAULT_AWS_SECRET_ACCESS_KEY
from sandbox.jada import DEFAULT_DASHBOARD_TOKEN
from sandbox.samples import SAMPLE_ROSTER, SampleBooking, sample_bookings
from sandbox.scc import DEFAULT_SERVICE_KEY

REPO = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("America/Los_Angeles")
# The address on the guest site: the demo's preview port dies with the demo, so it is not printed as a link.
GUEST_URL = re.compile(r"^/g/[0-9A-HJKMNP-TV-Z]{13}$")
SAVED_PAGES = re.compile(r"Copies are saved in (\S+)/<SESSION_ID>\.html")

pytestmark = pytest.mark.e2e


def _table(out: str, title: str, columns: int) -> list[dict[str, str]]:
    """The rows of the demo's table under ``<title> (<n>)``, as dicts keyed by its header."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if re.fullmatch(rf"{re.escape(title)} \(\d+\)", line))
    header = re.split(r"\s{2,}", lines[start + 1].strip())
    assert len(header) == columns, lines[start + 1]
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip(), maxsplit=columns - 1)
        assert len(cells) == columns, line
        rows.append(dict(zip(header, cells, strict=True)))
    count = int(re.search(r"\((\d+)\)", lines[start]).group(1))  # type: ignore[union-attr]
    assert len(rows) == count
    return rows


@pytest.fixture(scope="module")
def demo() -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
    return subprocess.run(
        [sys.executable, "-m", "sandbox.demo"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=570,  # under pytest-timeout's 600 s, so a hung demo fails with its output
        check=False,
    )


@pytest.fixture(scope="module")
def bookings(demo: subprocess.CompletedProcess[str]) -> dict[str, dict[str, str]]:
    assert demo.returncode == 0, demo.stdout[-6000:] + demo.stderr[-3000:]
    return {row["booking"]: row for row in _table(demo.stdout, "Bookings", 8)}


def _samples(expect: str) -> list[SampleBooking]:
    return [s for s in sample_bookings() if s.expect == expect]


def test_every_future_approved_booking_is_published_with_a_working_guest_page(
    bookings: dict[str, dict[str, str]],
) -> None:
    published = _samples("published")
    assert len(published) >= 5
    for sample in published:
        row = bookings[sample.booking_id]
        assert row["guest"] == sample.first_name
        assert row["outcome"] == "published", row
        assert row["calendar id"] != "-", row
        assert row["SCC event id"] != "-", row
        assert "DUPLICATE" not in row["calendar id"] + row["SCC event id"], row
        assert GUEST_URL.match(row["guest page"]), row
        assert row["check"] == "OK", row
    pages = [bookings[s.booking_id]["guest page"] for s in published]
    assert len(set(pages)) == len(pages)


def test_the_guest_pages_are_saved_where_the_output_says_to_open_them_after_the_demo(
    demo: subprocess.CompletedProcess[str], bookings: dict[str, dict[str, str]]
) -> None:
    found = SAVED_PAGES.search(demo.stdout)
    assert found, demo.stdout[-3000:]
    folder = REPO / found.group(1)
    for sample in _samples("published"):
        session_id = bookings[sample.booking_id]["guest page"].rsplit("/", 1)[-1]
        saved = (folder / f"{session_id}.html").read_text(encoding="utf-8")
        assert f"<title>Your charter aboard {sample.values['Boat']}" in saved
    first, _ = _first_to_sail()
    retired = bookings[first.booking_id]["guest page"].rsplit("/", 1)[-1]
    assert "no longer available" in (folder / f"{retired}-retired.html").read_text(encoding="utf-8")


def test_the_past_trip_is_recorded_only(bookings: dict[str, dict[str, str]]) -> None:
    [past] = _samples("past")
    row = bookings[past.booking_id]
    assert row["outcome"].startswith("recorded"), row
    assert (row["calendar id"], row["SCC event id"], row["guest page"]) == ("-", "-", "-")


def test_bookings_that_are_not_charters_get_no_artifacts(bookings: dict[str, dict[str, str]]) -> None:
    for sample in _samples("recorded") + _samples("cancelled"):
        row = bookings[sample.booking_id]
        assert row["outcome"].startswith("recorded"), row
        assert (row["calendar id"], row["SCC event id"], row["guest page"]) == ("-", "-", "-")
    assert bookings["BS-480150"]["status"] == "cancelled"


def test_the_bad_rows_are_quarantined_with_a_reason_naming_the_field(
    demo: subprocess.CompletedProcess[str], bookings: dict[str, dict[str, str]]
) -> None:
    quarantined = {row["booking"]: row for row in _table(demo.stdout, "Quarantined rows", 4)}
    bad = _samples("quarantined")
    assert sorted(quarantined) == sorted(s.booking_id for s in bad)
    for sample in bad:
        row = quarantined[sample.booking_id]
        assert row["reason"].startswith(sample.bad_field), row
        assert row["source"].endswith(".csv")
        assert bookings[sample.booking_id]["calendar id"] == "-"


def test_the_demo_prints_no_secret(demo: subprocess.CompletedProcess[str]) -> None:
    for secret in (DEFAULT_DASHBOARD_TOKEN, DEFAULT_SERVICE_KEY, DEFAULT_AWS_SECRET_ACCESS_KEY):
        assert secret not in demo.stdout
        assert secret not in demo.stderr


def _first_to_sail() -> tuple[SampleBooking, datetime]:
    """The published sample that starts first (every published sample's Trip Date is ISO or US, its Start Time
    24-hour or with AM/PM), and its start in San Diego."""
    starts = []
    for sample in _samples("published"):
        day, clock = str(sample.values["Trip Date"]), str(sample.values["Start Time"])
        day_format = "%m/%d/%Y" if "/" in day else "%Y-%m-%d"
        clock_format = "%I:%M %p" if clock.endswith("M") else "%H:%M"
        start = datetime.strptime(f"{day} {clock}", f"{day_format} {clock_format}").replace(tzinfo=TZ)
        starts.append((start, sample))
    start, sample = min(starts, key=lambda pair: pair[0])
    return sample, start


def test_aftercare_sends_the_desk_one_crew_alert_for_the_charter_whose_crew_has_not_answered(
    demo: subprocess.CompletedProcess[str], bookings: dict[str, dict[str, str]]
) -> None:
    first, start = _first_to_sail()
    assert re.search(
        rf"airflow dags test charter_aftercare \S+ \.\.\.\n  \(24 hours before {first.booking_id} ", demo.stdout
    )
    [alert] = _table(demo.stdout, "Alerts received by the desk", 3)
    assert (alert["kind"], alert["booking"]) == ("crew_pending", first.booking_id)
    lines = alert["message"].split(" / ")
    clock = f"{start:%I:%M %p}".lstrip("0")
    assert lines[0] == (
        f"Crew not confirmed yet: booking {first.booking_id}, {first.values['Boat']}, "
        f"{start:%a} {start.day} {start:%b %Y}, {clock} (America/Los_Angeles)"
    )
    roster = SAMPLE_ROSTER.get(str(first.values["Boat"]), SAMPLE_ROSTER["default"])
    crew = [f"- {roster['captain']['name']} (captain): pending"]
    crew += [f"- {member['name']} (crew): pending" for member in roster["crew"]]
    assert sorted(line for line in lines if line.startswith("- ")) == sorted(crew)
    assert "@" not in alert["message"]
    assert bookings[first.booking_id]["check"] == "OK"  # its page was live before it was retired


def test_aftercare_retires_the_guest_page_once_the_retention_days_have_passed(
    demo: subprocess.CompletedProcess[str], bookings: dict[str, dict[str, str]]
) -> None:
    first, _ = _first_to_sail()
    assert f"({first.booking_id}'s trip ended " in demo.stdout
    assert "guest_page_retention_days is 3)" in demo.stdout
    [page] = _table(demo.stdout, "Retired guest pages", 4)
    url = bookings[first.booking_id]["guest page"]
    session_id = url.rsplit("/", 1)[-1]
    assert (page["booking"], page["guest page"]) == (first.booking_id, url)
    assert page["check"] == "neutral notice", page
    assert page["invalidations"] == f"1: /g/{session_id}, /jada-guest-{session_id}.html"
    assert "the desk got the crew alert, and the retired page shows the neutral notice." in demo.stdout
