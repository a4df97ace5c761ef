"""LedgerHook's aftercare bookkeeping (CONTRACT.md section 11), against moto in server mode."""

from __future__ import annotations

from charter_pipeline.hooks.ledger import POLL_STATE_ID, LedgerHook, PollState
from tests.hooks.stand_ins import ledger_record as record


def test_delivered_alerts_accumulate_and_the_open_crew_alert_is_set_and_cleared(ledger: LedgerHook) -> None:
    ledger.save_snapshots([record()], existing={})
    ledger.record_alert_sent("BS-1001", "crew_pending-a", crew_alert_open="crew_pending-a")
    ledger.record_alert_sent("BS-1001", "drift-b")  # a drift alert leaves the crew bookkeeping alone
    found = ledger.get("BS-1001")
    assert found is not None
    assert found.alerts_sent == {"crew_pending-a", "drift-b"}
    assert found.crew_alert_open == "crew_pending-a"
    ledger.record_alert_sent("BS-1001", "crew_all_clear-c", crew_alert_open="")
    ledger.record_alert_sent("BS-1001", "crew_all_clear-c", crew_alert_open="")  # a repeat changes nothing
    found = ledger.get("BS-1001")
    assert found is not None
    assert found.alerts_sent == {"crew_pending-a", "drift-b", "crew_all_clear-c"}
    assert found.crew_alert_open == ""


def test_crew_answers_and_retirement_are_kept_beside_the_snapshot(ledger: LedgerHook) -> None:
    ledger.save_snapshots([record()], existing={})
    ledger.record_crew_answers("BS-1001", '[{"name":"Ana","response":"pending","role":"captain"}]')
    ledger.record_page_retiring("BS-1001", "h" * 16)
    found = ledger.get("BS-1001")
    assert found is not None
    assert found.retired
    assert not found.retired_at
    assert found.crew_answers.startswith('[{"name":"Ana"')
    assert found.crew_checked_at
    ledger.record_page_retired("BS-1001", "I123")
    found = ledger.get("BS-1001")
    assert found is not None
    assert found.retired_at
    assert found.retired_hash == "h" * 16
    # A newer snapshot read by the poll keeps every aftercare attribute.
    ledger.save_snapshots([record(fingerprint="e" * 32)], existing={"BS-1001": found})
    again = ledger.get("BS-1001")
    assert again is not None
    assert again.fingerprint == "e" * 32
    assert (again.retired_at, again.crew_answers) == (found.retired_at, found.crew_answers)


def test_published_records_skip_unpublished_retired_and_bookkeeping_items(ledger: LedgerHook) -> None:
    ledger.save_snapshots(
        [record("BS-1"), record("BS-2"), record("BS-3"), record("BS-4")],
        existing={},
    )
    ledger.record_artifacts("BS-1", calendar_id="cal_1")
    ledger.record_artifacts("BS-2", scc_event_id="evt_2")
    ledger.record_artifacts("BS-3", page_hash="p3")
    ledger.record_page_retiring("BS-3", "n3")
    ledger.save_poll_state(PollState(files={"a": "1"}, backlog=["BS-4"]))
    assert sorted(r.booking_id for r in ledger.published_records()) == ["BS-1", "BS-2"]
    every = sorted(r.booking_id for r in ledger.published_records(include_retired=True))
    assert every == ["BS-1", "BS-2", "BS-3"]
    assert POLL_STATE_ID not in every
