"""The staff page's read model and rendering, without Airflow or AWS: records in, rows and HTML out."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from charter_pipeline.ledger import STEPS, BookingState
from charter_pipeline.staff_page.app import render_page
from charter_pipeline.staff_page.board import FilterError, Filters, artifact_state, build_board, parse_filters
from sandbox.ledger_samples import NASTY_NAMES, SampleCharter, sample_records, staff_samples

LA = ZoneInfo("America/Los_Angeles")
TODAY = date(2026, 6, 1)
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def records_in_every_state() -> list:  # type: ignore[type-arg]
    done, failed, pending = sample_records(
        [
            SampleCharter("B-DONE", "Jane Doe", "Queen", datetime(2026, 6, 3, 10, tzinfo=LA)),
            SampleCharter("B-FAIL", "Ann Lee", "Queen", datetime(2026, 6, 2, 9, tzinfo=LA)),
            SampleCharter("B-NEW", "Bo Chen", "Queen", datetime(2026, 6, 2, 9, tzinfo=LA)),
        ],
        NOW,
    )
    done = replace(
        done,
        session_id="K7M2Q9XW4HB3T",
        page_hash="h",
        step_fingerprints=dict.fromkeys(STEPS, done.fingerprint),
        step_results={"invalidation": "skipped: cloudfront_distribution_id is empty"},
    )
    failed = replace(
        failed,
        step_fingerprints={"calendar": failed.fingerprint},
        step_results={"scc": "failed: HTTP 503"},
        last_error="ShipCaptainCrew: HTTP 503",
    )
    return [done, failed, pending]


def test_filters_default_to_the_coming_weeks_and_name_the_bad_parameter() -> None:
    assert parse_filters(None, None, None, TODAY) == Filters(TODAY, date(2026, 7, 31), "")
    assert parse_filters("2026-06-05", "", "Canceled", TODAY).status == "cancelled"
    for raw, name in [(("06/05/2026", None, None), "from"), ((None, "soon", None), "to"),
                      ((None, None, "sunk"), "status"), (("2026-06-05", "2026-06-04", None), "to"),
                      (("2026-01-01", "2030-01-01", None), "to")]:  # fmt: skip
        with pytest.raises(FilterError, match=f"^{name}:"):
            parse_filters(*raw, TODAY)


def test_each_artifact_state_in_the_operators_words() -> None:
    done, failed, pending = records_in_every_state()
    assert [artifact_state(done, s).state for s in STEPS] == ["done"] * 4 + ["skipped"]
    assert [artifact_state(failed, s).state for s in STEPS] == ["done", "failed", "pending", "pending", "pending"]
    assert {artifact_state(pending, s).state for s in STEPS} == {"pending"}
    past = replace(pending, state=BookingState.RECORDED_PAST)
    assert {artifact_state(past, s).state for s in STEPS} == {"not needed"}


def test_sorted_by_departure_filtered_by_status_and_failed_listed_with_their_error() -> None:
    records = records_in_every_state()
    board = build_board(Filters(TODAY, date(2026, 6, 30)), LA, "https://g.example/g/", records)
    assert [row.booking_id for row in board.charters] == ["B-FAIL", "B-NEW", "B-DONE"]  # ties by booking id
    assert board.charters[-1].guest_url == "https://g.example/g/K7M2Q9XW4HB3T"
    assert board.charters[0].guest_url == ""
    assert [(row.booking_id, row.error) for row in board.failed] == [("B-FAIL", "ShipCaptainCrew: HTTP 503")]
    only_failed = build_board(Filters(TODAY, date(2026, 6, 30), "failed"), LA, "", records)
    assert [row.booking_id for row in only_failed.charters] == ["B-FAIL"]
    assert build_board(Filters(TODAY, date(2026, 6, 30), "cancelled"), LA, "", records).charters == []


def test_crew_answers_are_shown_when_known_and_said_unknown_otherwise() -> None:
    done, *_ = records_in_every_state()
    crew = {"B-DONE": '[{"name": "Sam", "role": "captain", "response": "declined"}]'}
    row = build_board(Filters(TODAY, date(2026, 6, 30)), LA, "", [done], crew=crew).charters[0]
    assert [(c.name, c.response) for c in row.crew or []] == [("Sam", "declined")]
    assert build_board(Filters(TODAY, date(2026, 6, 30)), LA, "", [done]).charters[0].crew is None


def test_the_page_renders_every_nasty_name_as_text() -> None:
    records = sample_records(staff_samples(TODAY, LA), NOW)
    quarantine = [{"source": "a.csv", "row": 3, "reason": "<script>alert(1)</script>", "quarantined_at": "x"}]
    board = build_board(Filters(TODAY, date(2026, 6, 30)), LA, "", records, quarantine=quarantine)
    html, nonce = render_page(board)
    assert html.count("<script") == 1
    assert f'<script nonce="{nonce}">' in html
    assert "<img" not in html
    assert "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for name in NASTY_NAMES:
        assert name not in html
    assert "Evans" not in html  # first name and last initial only


def test_a_cancelled_or_inquiry_row_says_why_it_has_no_crew_not_that_it_is_unknown() -> None:
    charters = [
        SampleCharter("B-SAILS", "Jane Doe", "Queen", datetime(2026, 6, 3, 10, tzinfo=LA)),
        SampleCharter("B-OFF", "Ann Lee", "Queen", datetime(2026, 6, 4, 10, tzinfo=LA), status="cancelled"),
        SampleCharter("B-ASK", "Bo Chen", "Queen", datetime(2026, 6, 5, 10, tzinfo=LA), status="inquiry"),
    ]
    board = build_board(Filters(TODAY, date(2026, 6, 30)), LA, "", sample_records(charters, NOW))
    notes = {row.booking_id: row.crew_note for row in board.charters}
    assert notes == {
        "B-SAILS": "not known yet",
        "B-OFF": "no crew: cancelled",
        "B-ASK": "no crew: inquiry, not a charter",
    }
    html, _ = render_page(board)
    assert html.count("not known yet") == 1
    assert "no crew: cancelled" in html
    assert "no crew: inquiry, not a charter" in html


def test_quarantine_times_are_shown_in_the_pages_local_time_zone() -> None:
    # 2026-01-02 03:04 UTC is 19:04 on 1 January in San Diego (PST, UTC-8).
    quarantine = [{"source": "a.csv", "row": 3, "reason": "Gross: bad", "quarantined_at": "2026-01-02T03:04:00+00:00"}]
    board = build_board(Filters(TODAY, date(2026, 6, 30)), LA, "", [], quarantine=quarantine)
    [row] = board.quarantined
    assert row.quarantined_local == "Thu 01 Jan 2026 19:04"
    assert row.quarantined_at == "2026-01-02T03:04:00+00:00"  # the JSON keeps the stored instant
    html, _ = render_page(board)
    assert "Thu 01 Jan 2026 19:04" in html
    assert ">2026-01-02T03:04:00+00:00<" not in html


def test_a_charter_on_the_default_crew_for_a_boat_the_roster_does_not_name_says_so() -> None:
    """Issue 22 point 5: "Flying Dutchman" sailed with the default crew and nothing said so."""
    done, *_ = records_in_every_state()  # boat "Queen"
    flagged = build_board(Filters(TODAY, date(2026, 6, 30)), LA, "", [done], known_boats=["Harbor Light"])
    row = flagged.charters[0]
    assert row.roster_note == "default crew: boat 'Queen' is not in crew_roster, which lists Harbor Light"
    assert row.roster_note.replace("'", "&#39;") in render_page(flagged)[0]
    listed = build_board(Filters(TODAY, date(2026, 6, 30)), LA, "", [done], known_boats=["queen "])
    assert listed.charters[0].roster_note == ""
    only_default = build_board(Filters(TODAY, date(2026, 6, 30)), LA, "", [done])  # one crew for every boat
    assert only_default.charters[0].roster_note == ""
