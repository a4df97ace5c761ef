"""The connection doctor's advice for JADA and SCC follows the kind of error, never the words of its message."""

from __future__ import annotations

from typing import Any

import pytest

from charter_pipeline import doctor
from charter_pipeline.config import load_config
from charter_pipeline.hooks.jada_calendar import JadaCalendarHook
from charter_pipeline.hooks.policy import ServiceAuthError, ServiceUnavailable
from charter_pipeline.hooks.scc import ShipCaptainCrewHook


@pytest.fixture
def defined(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "_connection_exists", lambda conn_id: True)
    monkeypatch.setattr(doctor, "_connection_url", lambda conn_id: "https://services.example/prod")


def answering(error: Exception | None) -> Any:
    def lookup(self: Any, ref: str) -> list[dict[str, Any]]:
        if error is not None:
            raise error
        return []

    return lookup


@pytest.mark.usefixtures("defined")
def test_a_host_that_refuses_connections_is_a_host_to_check_not_a_secret_to_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    down = ServiceUnavailable("JADA calendar GET /calendar failed: ConnectionError: [Errno 111] Connection refused")
    monkeypatch.setattr(JadaCalendarHook, "find_entries", answering(down))
    finding = doctor.Doctor(load_config(None)).service("jada_dashboard", "dashboard token")
    assert finding.ok is False
    assert "Connection refused" in finding.detail
    assert "host" in finding.fix
    assert "token" not in finding.fix


@pytest.mark.usefixtures("defined")
def test_refused_credentials_are_a_secret_to_change(monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = ServiceAuthError("ShipCaptainCrew rejected the credentials of connection 'scc_api' (HTTP 401)")
    monkeypatch.setattr(ShipCaptainCrewHook, "find_events", answering(wrong))
    finding = doctor.Doctor(load_config(None)).service("scc_api", "service key")
    assert finding.ok is False
    assert finding.fix == "put the right service key in scc_api's password"


@pytest.mark.usefixtures("defined")
def test_an_answering_service_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(JadaCalendarHook, "find_entries", answering(None))
    finding = doctor.Doctor(load_config(None)).service("jada_dashboard", "dashboard token")
    assert finding.ok is True
    assert finding.detail == "JADA calendar answered a calendar lookup at https://services.example/prod"
