"""The ledger's booking records and poll state (hooks/ledger.py, stores/), against moto in server mode."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from charter_pipeline.ledger import STEPS
from charter_pipeline.stores.booking_records import SUMMARY_ATTRIBUTES
from charter_pipeline.stores.poll_state import PollState
from charter_pipeline.task_runtime import Hooks
from tests.hooks.stand_ins import ledger_record as record


def test_a_snapshot_comes_back_as_it_was_saved_row_digest_included(ledger: Hooks) -> None:
    saved = [record(), record("BS-1002", row_digest="")]  # "" for a snapshot not read from CSV cells
    assert ledger.records.save_snapshots(saved, existing={}) == 2
    found = ledger.records.get_many(["BS-1001", "BS-1002", "BS-never-seen"])
    assert found == {r.booking_id: r for r in saved}
    assert ledger.records.get("BS-1001") == saved[0]


def test_a_newer_snapshot_moves_the_digest_and_keeps_what_the_steps_recorded(ledger: Hooks) -> None:
    first = record()
    ledger.records.save_snapshots([first], existing={})
    for step in STEPS:
        ledger.records.record_step("BS-1001", step, first.fingerprint, "done", calendar_id="cal_7")
    newer = replace(first, fingerprint="e" * 32, row_digest="c" * 32, state="pending")
    ledger.records.save_snapshots([newer], existing={"BS-1001": first})

    stored = ledger.records.get("BS-1001")
    assert stored is not None
    assert (stored.fingerprint, stored.row_digest) == ("e" * 32, "c" * 32)
    assert stored.calendar_id == "cal_7"
    assert stored.step_fingerprints == dict.fromkeys(STEPS, first.fingerprint)
    assert not stored.in_sync()  # the steps completed for the older snapshot only


def test_the_poll_state_is_its_own_item_and_never_a_booking(ledger: Hooks) -> None:
    ledger.poll_state.save_poll_state(PollState(files={"s3://exports/a.csv": "v1"}, backlog=["BS-1002", "BS-1001"]))
    state = ledger.poll_state.get_poll_state()
    assert state.files == {"s3://exports/a.csv": "v1"}
    assert state.backlog == ["BS-1001", "BS-1002"]
    assert ledger.records.get_many(["BS-1001"]) == {}


def test_summaries_hold_what_the_poll_checks_rows_against_and_leave_the_snapshot_in_the_table(
    ledger: Hooks,
) -> None:
    done = record("BS-1001")
    ledger.records.save_snapshots(
        [done, record("BS-1002", state="recorded: not a charter", row_digest="")], existing={}
    )
    for step in STEPS:
        ledger.records.record_step("BS-1001", step, done.fingerprint, "done")
    ledger.records.record_step("BS-1002", "calendar", "f" * 32, "done")

    summaries = ledger.records.get_summaries(["BS-1001", "BS-1002", "BS-never-seen"])
    whole = ledger.records.get_many(["BS-1001", "BS-1002"])
    assert summaries == {booking_id: whole[booking_id].summary() for booking_id in ("BS-1001", "BS-1002")}
    assert summaries["BS-1001"].in_sync()
    assert summaries["BS-1002"].step_fingerprints == ("f" * 32, "", "", "", "")
    assert summaries["BS-1002"].recorded_only

    projected = next(ledger.ledger.batch_get(["BS-1001"], SUMMARY_ATTRIBUTES))
    assert set(projected) <= set(SUMMARY_ATTRIBUTES)
    assert "snapshot" not in projected


def test_summaries_of_many_bookings_are_read_a_hundred_a_call(ledger: Hooks) -> None:
    ledger.records.save_snapshots([record(f"BS-{number}") for number in range(150)], existing={})
    before = ledger.ledger.calls
    summaries = ledger.records.get_summaries(f"BS-{number}" for number in range(150))
    assert sorted(summaries) == sorted(f"BS-{number}" for number in range(150))
    assert ledger.ledger.calls - before == 2


def test_keys_dynamodb_leaves_unprocessed_are_asked_for_again_with_the_same_projection(
    ledger: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger.records.save_snapshots([record(f"BS-{number}") for number in range(5)], existing={})
    client = ledger.ledger.client
    answer_in_full = client.batch_get_item
    asked: list[dict[str, Any]] = []

    def busy_table(RequestItems: dict[str, Any]) -> dict[str, Any]:
        ((table, request),) = RequestItems.items()
        asked.append(request)
        if len(asked) > 1:
            return answer_in_full(RequestItems=RequestItems)
        # Under load DynamoDB answers part of a batch and hands back the rest, keys only.
        answer = answer_in_full(RequestItems={table: {**request, "Keys": request["Keys"][:2]}})
        answer["UnprocessedKeys"] = {table: {"Keys": request["Keys"][2:]}}
        return answer

    monkeypatch.setattr(client, "batch_get_item", busy_table)
    before = ledger.ledger.calls
    summaries = ledger.records.get_summaries(f"BS-{number}" for number in range(5))
    assert sorted(summaries) == [f"BS-{number}" for number in range(5)]
    assert ledger.ledger.calls - before == 2
    assert [len(request["Keys"]) for request in asked] == [5, 3]
    assert asked[1]["ProjectionExpression"] == asked[0]["ProjectionExpression"]
