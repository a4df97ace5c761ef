"""OpsAlertsHook: alerts to the operations desk (connection ``ops_alerts``, CONTRACT.md section 11)."""

from __future__ import annotations

import requests

from charter_pipeline.alerts import Alert, AlertDelivery, refuse_unsafe
from charter_pipeline.hooks.policy import HTTP_POLICY, RetryPolicy, ServiceError
from charter_pipeline.hooks.service_http import ServiceHttpHook

SENT = AlertDelivery.SENT
LOGGED = AlertDelivery.LOGGED


def _missing_connection_errors() -> tuple[type[Exception], ...]:
    # The task SDK and the core raise their own AirflowNotFoundException for a conn_id nobody defined.
    from airflow.sdk.exceptions import AirflowNotFoundException as SdkNotFound

    try:
        from airflow.exceptions import AirflowNotFoundException as CoreNotFound
    except ImportError:  # pragma: no cover - a task-SDK-only worker
        return (SdkNotFound,)
    return (SdkNotFound, CoreNotFound)


class OpsAlertsHook(ServiceHttpHook):
    """POST alerts as JSON to the operations desk's receiver.

    ``host`` is the full URL alerts are POSTed to; ``password``, when set, goes as ``Authorization: Bearer``.
    Without the connection an alert is written to the task log as a warning and counts as handled: a deployment
    that has no desk receiver yet loses nothing and fails nothing.

    A POST is retried on 429, 5xx, timeouts and dropped connections like any idempotent call: the alert's
    ``alert_id`` lets the receiver drop a repeat, and a lost answer must not lose the alert.
    """

    conn_name_attr = "conn_id"
    default_conn_name = "ops_alerts"
    conn_type = "http"
    hook_name = "Operations desk alerts"
    service_name = "Operations desk alerts"
    secret_name = "bearer token"
    password_required = False  # the receiver may take alerts without a token

    def __init__(self, conn_id: str | None = None, *, policy: RetryPolicy = HTTP_POLICY) -> None:
        super().__init__(conn_id, policy=policy)
        self._configured: bool | None = None

    def auth_headers(self, secret: str) -> dict[str, str]:
        """The receiver reads an optional bearer token."""
        return {"Authorization": f"Bearer {secret}"} if secret else {}

    @property
    def configured(self) -> bool:
        """Whether the ``ops_alerts`` connection exists (read once per hook)."""
        if self._configured is None:
            try:
                self.get_conn()
            except _missing_connection_errors():
                self._configured = False
            else:
                self._configured = True
        return self._configured

    def send(self, alert: Alert) -> str:
        """Deliver one alert: ``"sent"`` once the receiver answered 2xx, ``"logged"`` when there is no connection.

        Raises AlertRefused for a text holding money, an e-mail address or a secret (nothing is sent or logged),
        ServiceAuthError on 401/403 (naming the connection), ServiceRejected on another 4xx, ServiceUnavailable
        when 429/5xx/timeouts outlast the retries. A caller records the alert as delivered only on ``"sent"``
        or ``"logged"``, so a failed one is sent again, under the same ``alert_id``, by a later attempt.
        """
        if not self.configured:
            refuse_unsafe(alert)
            self.log.warning(
                "No connection %r: alert %s (%s) for booking %s written here instead of sent:\n%s",
                self.conn_id,
                alert.alert_id,
                alert.kind,
                alert.booking_id,
                alert.text,
            )
            return LOGGED
        refuse_unsafe(alert, secrets=self.secrets)
        self.request("POST", "", json=alert.to_json(), repeat_safe=True)
        self.log.info("Alert %s (%s) for booking %s delivered", alert.alert_id, alert.kind, alert.booking_id)
        return SENT

    def test_connection(self) -> tuple[bool, str]:
        """POST nothing: check that the receiver's URL answers at all and accepts the token (a GET, any non-auth
        answer counts), so testing the connection never puts a false alert on the desk."""
        try:
            response = self.get_conn().get(self.base_url, timeout=self.policy.timeout, allow_redirects=False)
        except _missing_connection_errors():
            return False, f"connection {self.conn_id!r} is not defined: alerts are only written to the task log"
        except (ServiceError, requests.RequestException) as exc:
            return False, self._safe(f"{self.service_name}: {type(exc).__name__}: {exc}")
        if response.status_code in (401, 403):
            return False, (
                f"{self.service_name} refused the {self.secret_name} of connection {self.conn_id!r} "
                f"(HTTP {response.status_code})"
            )
        if response.status_code >= 500:
            return False, f"{self.service_name} answered HTTP {response.status_code}"
        return True, f"{self.service_name} answered at {self._safe(self.base_url)}"
