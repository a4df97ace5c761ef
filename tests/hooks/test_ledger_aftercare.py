"""LedgerHook's aftercare bookkeeping (CONTRACT.md section 11), against moto in server mode."""

from __future__ import annotations

from charter_pipeline.ledger import POLL_STATE_ID
from charter_pipeline.stores.poll_state import PollState
from charter_pipeline.task_runtime import Hooks
from tests.hooks.stand_ins import ledger_record as record


def test_delivered_alerts_accumulate_and_the_open_crew_alert_is_set_and_cleared(ledger: Hooks) -> None:
    ledger.records.save_snapshots([record()], existing={})
    ledger.aftercare.record_alert_sent("BS-1001", "crew_pending-a", crew_alert_open="crew_pending-a")
    ledger.aftercare.record_alert_sent("BS-1001", "drift-b")  # a drift alert leaves the crew bookkeeping alone
    found = ledger.records.get("BS-1001")
    assert found is not None
    assert found.alerts_sent == {"crew_pending-a", "drift-b"}
    assert found.crew_alert_open == "crew_pending-a"
    ledger.aftercare.record_alert_sent("BS-1001", "crew_all_clear-c", crew_alert_open="")
    ledger.aftercare.record_alert_sent("BS-1001", "crew_all_clear-c", crew_alert_open="")  # a repeat changes nothing
    found = ledger.records.get("BS-1001")
    assert found is not None
    assert found.alerts_sent == {"crew_pending-a", "drift-b", "crew_all_clear-c"}
    assert found.crew_alert_open == ""


def test_crew_answers_and_retirement_are_kept_beside_the_snapshot(ledger: Hooks) -> None:
    ledger.records.save_snapshots([record()], existing={})
    ledger.aftercare.record_crew_answers("BS-1001", '[{"name":"Ana","response":"pending","role":"captain"}]')
    ledger.aftercare.record_page_retiring("BS-1001", "h" * 16)
    found = ledger.records.get("BS-1001")
    assert found is not None
    assert found.retired
    assert not found.retired_at
    assert found.crew_answers.startswith('[{"name":"Ana"')
    assert found.crew_checked_at
    ledger.aftercare.record_page_retired("BS-1001", "I123")
    found = ledger.records.get("BS-1001")
    assert found is not None
    assert found.retired_at
    assert found.retired_hash == "h" * 16
    # A newer snapshot read by the poll keeps every aftercare attribute.
    ledger.records.save_snapshots([record(fingerprint="e" * 32)], existing={"BS-1001": found})
    again = ledger.records.get("BS-1001")
    assert again is not None
    assert again.fingerprint == "e" * 32
    assert (again.retired_at, again.crew_answers) == (found.retired_at, found.crew_answers)


def test_published_records_skip_unpublished_retired_and_bookkeeping_items(ledger: Hooks) -> None:
    ledger.records.save_snapshots(
        [record("BS-1"), record("BS-2"), record("BS-3"), record("BS-4")],
        existing={},
    )
    ledger.records.record_artifacts("BS-1", calendar_id="cal_1")
    ledger.records.record_artifacts("BS-2", scc_event_id="evt_2")
    ledger.records.record_artifacts("BS-3", page_hash="p3")
    ledger.aftercare.record_page_retiring("BS-3", "n3")
    ledger.poll_state.save_poll_state(PollState(files={"a": "1"}, backlog=["BS-4"]))
    assert sorted(r.booking_id for r in ledger.records.published_records()) == ["BS-1", "BS-2"]
    every = sorted(r.booking_id for r in ledger.records.published_records(include_retired=True))
    assert every == ["BS-1", "BS-2", "BS-3"]
    assert POLL_STATE_ID not in every
