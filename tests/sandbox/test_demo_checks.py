"""The checks ``make demo`` judges its aftercare runs by: each can fail, and then the demo exits 2."""

from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import Any

from sandbox.bootstrap import put_plugins_on_path
from sandbox.demo import RetiredPage, aftercare_instants, crew_alert_problems, retirement_problems
from sandbox.samples import sample_bookings, sample_variable

put_plugins_on_path()

from charter_pipeline.booking import parse_booking  # noqa: E402
from charter_pipeline.config import load_config  # noqa: E402


def alert(booking_id: str, kind: str = "crew_pending", *, repeat: bool = False) -> dict[str, Any]:
    return {"booking_id": booking_id, "kind": kind, "alert_id": f"{booking_id}-{kind}", "repeat": repeat}


def test_the_instants_follow_the_first_charter_to_sail_whatever_the_day() -> None:
    config = load_config(sample_variable("E123"))
    for today in (date(2026, 3, 5), date(2026, 10, 30), date(2027, 1, 1)):  # across both DST changes too
        when = aftercare_instants(sample_bookings(today), config)
        assert when.booking.booking_id == "BS-480117"
        start, end = when.booking.start, when.booking.end
        assert when.crew_check < start <= when.crew_check + timedelta(hours=config.crew_confirm_hours)
        assert when.crew_check.tzinfo == UTC
        assert when.crew_check.minute == 0
        assert end + timedelta(days=config.guest_page_retention_days) < when.retirement
        assert when.retirement - (end + timedelta(days=config.guest_page_retention_days)) <= timedelta(hours=1)
        # Nothing else is due at those instants: one alert and one retired page are what the demo expects.
        for sample in sample_bookings(today):
            if sample.expect != "published" or sample.booking_id == "BS-480117":
                continue
            other = parse_booking(sample.values, config.tz)
            assert other.start > when.crew_check + timedelta(hours=config.crew_confirm_hours)
            assert other.end + timedelta(days=config.guest_page_retention_days) > when.retirement


def test_one_crew_alert_for_the_charter_passes_and_anything_else_is_a_problem() -> None:
    assert crew_alert_problems([alert("BS-1")], "BS-1") == []
    assert crew_alert_problems([alert("BS-1", "drift")], "BS-1") == [
        "BS-1: 0 crew alerts reached the alert receiver, not 1"
    ]
    assert crew_alert_problems([], "BS-1") == ["BS-1: 0 crew alerts reached the alert receiver, not 1"]
    assert crew_alert_problems([alert("BS-1"), alert("BS-1", "crew_declined")], "BS-1") == [
        "BS-1: 2 crew alerts reached the alert receiver, not 1"
    ]
    assert crew_alert_problems([alert("BS-1"), alert("BS-1", repeat=True)], "BS-1")[-1] == (
        "BS-1: alert BS-1-crew_pending was sent again"
    )


def test_a_retirement_is_checked_for_the_notice_and_one_invalidation() -> None:
    good = RetiredPage("BS-1", "http://127.0.0.1:1/g/ABC", "neutral notice", [["/g/ABC", "/jada-guest-ABC.html"]])
    assert retirement_problems([good], "BS-1") == []
    assert retirement_problems([], "BS-1") == ["retired pages: none, not BS-1"]
    shown = RetiredPage("BS-1", good.guest_url, "still shows Jane", [])
    assert retirement_problems([shown], "BS-1") == [
        "BS-1: retired guest page still shows Jane",
        "BS-1: 0 invalidations since retiring, not 1",
    ]
    assert good.cells()[-1] == "1: /g/ABC, /jada-guest-ABC.html"
