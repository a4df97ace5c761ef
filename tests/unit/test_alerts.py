"""Alerts to the operations desk: the body, the stable id and what an alert may never hold (CONTRACT.md 11)."""

from __future__ import annotations

import pytest

from charter_pipeline.alerts import KINDS, Alert, AlertRefused, alert_findings, alert_id, refuse_unsafe


def test_the_body_is_exactly_the_contract_fields() -> None:
    alert = Alert(kind="crew_pending", booking_id="BS-1", text="line one\nline two", alert_id="x")
    assert alert.to_json() == {
        "text": "line one\nline two",
        "kind": "crew_pending",
        "booking_id": "BS-1",
        "alert_id": "x",
    }


def test_kinds_are_the_contract_kinds_and_nothing_else() -> None:
    assert KINDS == (
        "crew_declined", "crew_pending", "crew_all_clear", "drift", "publish_failed", "publish_recovered",
    )  # fmt: skip
    with pytest.raises(ValueError, match="crew_late"):
        Alert(kind="crew_late", booking_id="BS-1", text="", alert_id="x")
    with pytest.raises(ValueError, match="crew_late"):
        alert_id("crew_late", "BS-1", [])


def test_the_id_is_stable_and_ignores_the_order_of_the_situation() -> None:
    one = alert_id("crew_pending", "BS-1", ["Ana Ruiz: pending", "Bo Lee: accepted"])
    assert one == alert_id("crew_pending", "BS-1", ["Bo Lee: accepted", "Ana Ruiz: pending"])
    assert one == alert_id("crew_pending", "BS-1", ("Bo  Lee: accepted", "Ana Ruiz: pending", "Ana Ruiz: pending"))


@pytest.mark.parametrize(
    ("kind", "booking", "situation"),
    [
        ("crew_declined", "BS-1", ["Ana Ruiz: pending", "Bo Lee: accepted"]),
        ("crew_pending", "BS-2", ["Ana Ruiz: pending", "Bo Lee: accepted"]),
        ("crew_pending", "BS-1", ["Ana Ruiz: declined", "Bo Lee: accepted"]),
        ("crew_pending", "BS-1", ["Ana Ruiz: pending"]),
    ],
)
def test_another_kind_booking_or_situation_is_another_id(kind: str, booking: str, situation: list[str]) -> None:
    assert alert_id(kind, booking, situation) != alert_id(
        "crew_pending", "BS-1", ["Ana Ruiz: pending", "Bo Lee: accepted"]
    )


def test_a_clean_text_passes_times_dates_and_counts_included() -> None:
    text = (
        "BS-1 Pay Day, Fri Dec 4 2026 10:00 AM\nAna Ruiz (captain): declined\n6 guests\nthe entry's money fields differ"
    )
    assert alert_findings(text) == []


@pytest.mark.parametrize(
    ("text", "finding"),
    [
        ("crew owed\n$25 each", "line 2 holds an amount"),
        ("net 289.41", "line 1 holds an amount"),
        ("write to ana@example.com", "e-mail address"),
        ("key AKIAABCDEFGHIJKLMNOP leaked", "secret"),
        ("Authorization: Bearer abcdefghijkl", "secret"),
        ("the token is s3cr3t-token", "secret"),
    ],
)
def test_money_addresses_and_secrets_are_found(text: str, finding: str) -> None:
    findings = alert_findings(text, secrets=["s3cr3t-token"])
    assert any(finding in f for f in findings), findings


def test_a_refused_alert_names_the_reason_never_the_content() -> None:
    alert = Alert(kind="drift", booking_id="BS-1", text="mail ana@example.com about $25", alert_id="drift-1")
    with pytest.raises(AlertRefused) as refused:
        refuse_unsafe(alert)
    message = str(refused.value)
    assert "e-mail address" in message
    assert "amount" in message
    assert "drift-1" in message
    assert "ana@example.com" not in message
    assert "$25" not in message
