"""The ledger's bookkeeping for the desk's stuck-booking alerts (CONTRACT.md section 15), against moto."""

from __future__ import annotations

from charter_pipeline.task_runtime import Hooks
from tests.hooks.stand_ins import ledger_record as record


def test_a_failure_keeps_its_kind_per_step_until_the_step_completes(ledger: Hooks) -> None:
    ledger.records.save_snapshots([record()], existing={})
    fp = "f" * 32

    ledger.records.record_failure(
        "BS-1001", "scc", "ServiceUnavailable: SCC answered 503", fingerprint=fp, kind="unavailable"
    )
    ledger.records.record_failure("BS-1001", "page", "ServiceRejected: 400", fingerprint=fp, kind="refused the request")
    failing = ledger.records.get("BS-1001")
    ledger.records.record_step("BS-1001", "scc", fp, "created evt_1", scc_event_id="evt_1")
    after = ledger.records.get("BS-1001")

    assert failing is not None
    assert after is not None
    assert failing.step_failures == {"scc": "unavailable", "page": "refused the request"}
    assert after.step_failures == {"page": "refused the request"}


def test_the_open_stuck_alert_is_set_and_cleared_beside_the_crew_one(ledger: Hooks) -> None:
    ledger.records.save_snapshots([record()], existing={})

    ledger.aftercare.record_alert_sent("BS-1001", "crew_pending-a", crew_alert_open="crew_pending-a")
    ledger.aftercare.record_alert_sent("BS-1001", "publish_failed-b", stuck_alert_open="publish_failed-b")
    failed = ledger.records.get("BS-1001")
    ledger.aftercare.record_alert_sent("BS-1001", "publish_recovered-c", stuck_alert_open="")
    recovered = ledger.records.get("BS-1001")

    assert failed is not None
    assert recovered is not None
    assert (failed.crew_alert_open, failed.stuck_alert_open) == ("crew_pending-a", "publish_failed-b")
    assert (recovered.crew_alert_open, recovered.stuck_alert_open) == ("crew_pending-a", "")
    assert recovered.alerts_sent == {"crew_pending-a", "publish_failed-b", "publish_recovered-c"}
