"""JadaCalendarHook: JADA's internal calendar (connection ``jada_dashboard``, CONTRACT.md section 5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from charter_pipeline.hooks.policy import ServiceError
from charter_pipeline.hooks.service_http import ServiceHttpHook, created_record_id, matching_records

CONNECTION_TEST_ID = "boatsetter:connection-test"


class JadaCalendarHook(ServiceHttpHook):
    """Create, find and update charter entries on the JADA calendar.

    Every request carries ``X-Dashboard-Token: <password>``. POST /calendar is not idempotent, so
    ``create_entry`` looks the entry up by ``external_id`` before any retry instead of posting twice.

    :param conn_id: connection whose ``host`` is the dashboard's base URL and ``password`` the dashboard token.
    """

    conn_name_attr = "conn_id"
    default_conn_name = "jada_dashboard"
    conn_type = "http"
    hook_name = "JADA calendar"
    service_name = "JADA calendar"
    secret_name = "dashboard token"

    def auth_headers(self, secret: str) -> dict[str, str]:
        """JADA reads its token from ``X-Dashboard-Token``."""
        return {"X-Dashboard-Token": secret}

    def find_entries(self, external_id: str) -> list[dict[str, Any]]:
        """Entries whose ``external_id`` is ``external_id`` (one GET /calendar?external_id=)."""
        body = self.request("GET", "/calendar", params={"external_id": external_id})
        return matching_records(body, key="external_id", value=external_id, service=self.service_name)

    def create_entry(self, payload: Mapping[str, Any]) -> str:
        """POST /calendar once and return the new entry's id; a lost answer is found by ``external_id``."""
        external_id = payload.get("external_id")
        if not isinstance(external_id, str) or not external_id:
            raise ServiceError("a calendar entry needs an external_id before it is created")

        def find() -> str | None:
            return created_record_id(self.find_entries(external_id), id_field="id", payload=payload)

        return self.create_once("/calendar", payload, find=find, id_field="id")

    def update_entry(self, entry_id: str, fields: Mapping[str, Any]) -> None:
        """PATCH /calendar/{entry_id} with the changed fields."""
        self.request("PATCH", f"/calendar/{quote(str(entry_id), safe='')}", json=dict(fields))

    def test_connection(self) -> tuple[bool, str]:
        """Look up an entry that does not exist: proves the URL and the token without writing anything."""
        try:
            self.find_entries(CONNECTION_TEST_ID)
        except ServiceError as exc:
            return False, str(exc)
        return True, f"{self.service_name} answered a calendar lookup at {self._safe(self.base_url)}"
