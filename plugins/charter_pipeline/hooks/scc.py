"""ShipCaptainCrewHook: crew events on ShipCaptainCrew (connection ``scc_api``, CONTRACT.md section 6)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

from charter_pipeline.hooks.policy import HTTP_POLICY, RetryPolicy, ServiceError, ServiceRejected, truncate
from charter_pipeline.hooks.service_http import ServiceHttpHook, created_record_id, matching_records

CONNECTION_TEST_REF = "boatsetter:connection-test"
MoneyFindings = Callable[[Any], list[str]]


class MoneyRefused(ServiceRejected):
    """The pipeline itself refused to send a payload that speaks of money to SCC (CONTRACT.md section 6)."""


class ShipCaptainCrewHook(ServiceHttpHook):
    """Create, find, update and cancel crew events on ShipCaptainCrew.

    Every request carries ``Authorization: Bearer <password>``. Creating an event e-mails every assigned crew
    member, so ``create_event`` never posts twice: a lost answer is found by ``external_ref``. As defence in
    depth, no payload that ``money_findings`` flags ever leaves this hook.

    :param conn_id: connection whose ``host`` is the API Gateway base URL with its stage (never the CloudFront
        domain, which strips auth headers) and ``password`` the service key.
    :param money_findings: the money detector; defaults to ``charter_pipeline.money_words.money_findings``.
    """

    conn_name_attr = "conn_id"
    default_conn_name = "scc_api"
    conn_type = "http"
    hook_name = "ShipCaptainCrew"
    service_name = "ShipCaptainCrew"
    secret_name = "service key"

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        policy: RetryPolicy = HTTP_POLICY,
        money_findings: MoneyFindings | None = None,
    ) -> None:
        super().__init__(conn_id, policy=policy)
        self._money_findings = money_findings

    def auth_headers(self, secret: str) -> dict[str, str]:
        """SCC's API Gateway authorizer reads a bearer token."""
        return {"Authorization": f"Bearer {secret}"}

    def find_events(self, external_ref: str) -> list[dict[str, Any]]:
        """Events whose ``external_ref`` is ``external_ref`` (one GET /events?external_ref=)."""
        body = self.request("GET", "/events", params={"external_ref": external_ref})
        return matching_records(body, key="external_ref", value=external_ref, service=self.service_name)

    def get_event(self, event_id: str) -> dict[str, Any]:
        """The event as SCC holds it now (one GET /events/{event_id}), crew answers included (CONTRACT.md 11).
        An event SCC no longer has raises ServiceRejected with status 404."""
        body = self.request("GET", self._event_path(event_id))
        if not isinstance(body, dict):
            raise ServiceError(f"{self.service_name} answered GET /events/{{event_id}} without an event object")
        return body

    def create_event(self, payload: Mapping[str, Any]) -> str:
        """POST /events once and return the new ``event_id``; a lost answer is found by ``external_ref``."""
        self._refuse_money(payload)
        external_ref = payload.get("external_ref")
        if not isinstance(external_ref, str) or not external_ref:
            raise ServiceError("an SCC event needs an external_ref before it is created")

        def find() -> str | None:
            return created_record_id(self.find_events(external_ref), id_field="event_id", payload=payload)

        return self.create_once("/events", payload, find=find, id_field="event_id")

    def update_event(self, event_id: str, fields: Mapping[str, Any], *, names: Iterable[str] = ()) -> None:
        """PATCH /events/{event_id} with the changed fields. ``names`` are the event's proper names (boat, guest,
        crew), which a partial update may not carry but must not be mistaken for talk of money ("Pay Day")."""
        self._refuse_money(fields, names=names)
        self.request("PATCH", self._event_path(event_id), json=dict(fields))

    def cancel_event(self, event_id: str) -> None:
        """PATCH the event to ``{"status": "cancelled"}``; SCC tells the crew."""
        self.request("PATCH", self._event_path(event_id), json={"status": "cancelled"})

    def test_connection(self) -> tuple[bool, str]:
        """Look up an event that does not exist: proves the URL and the key without e-mailing anyone."""
        try:
            self.find_events(CONNECTION_TEST_REF)
        except ServiceError as exc:
            return False, str(exc)
        return True, f"{self.service_name} answered an event lookup at {self._safe(self.base_url)}"

    @staticmethod
    def _event_path(event_id: str) -> str:
        return f"/events/{quote(str(event_id), safe='')}"

    def _refuse_money(self, payload: Mapping[str, Any], *, names: Iterable[str] = ()) -> None:
        if self._money_findings is not None:
            findings = self._money_findings(dict(payload))
        else:
            from charter_pipeline.money_words import money_findings

            findings = money_findings(dict(payload), names=names)
        if findings:
            raise MoneyRefused(f"refusing to send money to SCC: {truncate('; '.join(findings))}")
