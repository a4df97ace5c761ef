"""The SCC step, when its ledger has forgotten an event that exists (a lost ledger, a task that died right after its
create), must adopt the event as it is: an update makes SCC e-mail every crew member a change notice about a trip
that did not change (CONTRACT.md sections 6 and 8).

Fast and focused: the real SCC step and hook against the SCC stand-in, with an in-memory ledger, no DAG run.
"""

from __future__ import annotations

from typing import Any

import pytest

from charter_pipeline.booking import fingerprint, parse_booking
from charter_pipeline.config import load_config
from charter_pipeline.ledger import Action, LedgerRecord
from charter_pipeline.publishing.booking_steps import BookingSteps
from charter_pipeline.publishing.poll import work_item
from charter_pipeline.task_runtime import Hooks
from sandbox.samples import SAMPLE_ROSTER
from sandbox.stack import SandboxStack
from tests.e2e.harness import row
from tests.reliability.evidence import FAULTS, Report

pytestmark = pytest.mark.reliability


class MemoryLedger:
    """Just enough of LedgerHook for one step: remembers what the step records."""

    def __init__(self) -> None:
        self.records: dict[str, LedgerRecord] = {}
        self.steps: list[tuple[str, str, dict[str, str]]] = []

    def get(self, booking_id: str) -> LedgerRecord | None:
        return self.records.get(booking_id)

    def record_step(self, booking_id: str, step: str, fingerprint: str, result: str, **artifacts: str) -> None:
        self.steps.append((step, result, artifacts))

    def record_failure(self, booking_id: str, step: str, message: str) -> None:
        self.steps.append((step, f"failed: {message}", {}))


def scc_step(item: dict[str, Any], ledger: MemoryLedger) -> dict[str, Any]:
    config = load_config({"crew_roster": SAMPLE_ROSTER})
    return BookingSteps(config, item, Hooks.from_config(config, records=ledger)).scc_event()


def test_an_existing_unchanged_event_is_adopted_without_an_update(
    reliability_stack: SandboxStack, reliability_report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in reliability_stack.connections_env().items():
        monkeypatch.setenv(name, value)
    booking = parse_booking(row("REL-S01", renter_name="Ivy Marsh"), load_config({}).tz)
    item = work_item(booking, fingerprint(booking), Action.PUBLISH, None)
    created = scc_step(item, MemoryLedger())
    assert created["result"].startswith("created ")
    mails = len(reliability_stack.scc.outbox())

    adopted = scc_step(item, MemoryLedger())  # the ledger has lost the event id

    patches = reliability_stack.scc.logged("PATCH", f"/prod/events/{created['event_id']}")
    mailed = reliability_stack.scc.outbox()[mails:]
    expect = reliability_report.section(FAULTS)
    expect.check(
        "the SCC step runs again for an unchanged booking whose ledger lost the event id (step level, no DAG)",
        "SCC step and stand-in",
        "the event found by its external_ref is adopted as it is: no PATCH, no crew e-mail",
        f"same event: {adopted['event_id'] == created['event_id']}; result {adopted['result']!r}; "
        f"PATCHed fields: {[sorted(p['body']) for p in patches] or 'none'}; crew mails: {len(mailed)}",
        adopted["event_id"] == created["event_id"] and not adopted["changed"] and not patches and not mailed,
    )  # fmt: skip
    expect.verify()
