"""Base hook for the two HTTP services the pipeline talks to: the JADA calendar and ShipCaptainCrew.

The connection's ``host`` is the service's base URL with its scheme, possibly with a path such as an API
Gateway stage (``https://abc.execute-api.us-west-2.amazonaws.com/prod``); its ``password`` is the secret,
sent in a header chosen by the subclass. Retries and timeouts come from ``policy.HTTP_POLICY``, through tenacity.

Creating is the one thing that must never happen twice (CONTRACT.md sections 5, 6 and 8): ``create_once``
POSTs once and, whenever the answer is lost, asks the service (GET by external id) before trying again.

Not the http provider's ``HttpHook``: its ``schema`` is the URL scheme (ours hold the API stage), it follows
redirects, and one AirflowException stands for every status. Its retrying is ours: tenacity around one attempt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from airflow.sdk import BaseHook

from charter_pipeline.hooks.policy import (
    HTTP_POLICY,
    RetryPolicy,
    ServiceAuthError,
    ServiceError,
    ServiceRejected,
    ServiceUnavailable,
    Transient,
    parse_retry_after,
    redact,
    truncate,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
_TRANSIENT_STATUSES = frozenset({429}) | frozenset(range(500, 600))


def base_url_of(conn: Connection) -> str:
    """The service's base URL from an Airflow connection, without a trailing slash.

    ``host`` normally holds the whole base URL (``https://api.example.com/prod``). A connection given in URI
    form (``AIRFLOW_CONN_SCC_API='https://:key@api.example.com/prod'``) arrives split: scheme in ``conn_type``,
    host alone in ``host``, port in ``port`` and the path in ``schema``. HttpHook would take ``schema`` for the
    URL scheme; here it is the path, as the URI meant. The scheme is https when ``conn_type`` is "https", the
    port is 443 or the extra says ``"scheme": "https"``; http otherwise.
    """
    host = (conn.host or "").strip()
    if not host:
        raise ServiceRejected(f"connection {conn.conn_id!r} has no host: set it to the service's base URL")
    if "://" in host:
        url = host
        if conn.port and not urlsplit(host).port:
            parts = urlsplit(host)
            url = parts._replace(netloc=f"{parts.netloc}:{conn.port}").geturl()
    else:
        extra = conn.extra_dejson if conn.extra else {}
        scheme = str(extra.get("scheme") or "").lower()
        if scheme not in ("http", "https"):
            scheme = "https" if conn.conn_type == "https" or conn.port == 443 else "http"
        url = f"{scheme}://{host.strip('/')}"
        if conn.port:
            url += f":{conn.port}"
        if conn.schema:
            url += "/" + conn.schema.strip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServiceRejected(f"connection {conn.conn_id!r}: host is not an http(s) base URL")
    return url.rstrip("/")


def service_message(response: requests.Response) -> str:
    """What the service said in an error answer: a JSON ``message``/``error``/``detail``, else the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text or response.reason or ""
    if isinstance(body, dict):
        for key in ("message", "error", "detail", "errors", "Message"):
            if body.get(key):
                value = body[key]
                return value if isinstance(value, str) else str(value)
    return str(body)


class ServiceHttpHook(BaseHook):
    """Base for JSON-over-HTTPS services authenticated by a secret header.

    :param conn_id: the Airflow connection: ``host`` the base URL, ``password`` the secret.
    :param policy: retries and timeouts; tests pass one with a tiny timeout and a fake sleep.
    """

    conn_name_attr = "conn_id"
    default_conn_name = ""
    conn_type = "http"
    hook_name = "Charter pipeline HTTP service"
    service_name = "service"
    # JADA and SCC refuse every call without their secret; a hook whose service may have none says False.
    password_required = True
    secret_name = "secret"

    def __init__(self, conn_id: str | None = None, *, policy: RetryPolicy = HTTP_POLICY) -> None:
        super().__init__()
        self.conn_id = conn_id or self.default_conn_name
        self.policy = policy
        self._session: requests.Session | None = None
        self._base_url = ""
        self._secrets: tuple[str, ...] = ()

    def auth_headers(self, secret: str) -> dict[str, str]:
        """The header(s) that carry the secret; each service has its own."""
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        """The service's base URL (reads the connection on first use)."""
        self.get_conn()
        return self._base_url

    def get_conn(self) -> requests.Session:
        """A requests Session with the auth header set, built once per hook from the connection."""
        if self._session is None:
            conn = self.get_connection(self.conn_id)
            secret = conn.password or ""
            if not secret and self.password_required:
                raise ServiceAuthError(
                    f"{self.service_name}: connection {self.conn_id!r} has no password; set it to the service's secret."
                )
            self._base_url = base_url_of(conn)
            self._secrets = (secret, conn.login or "")
            session = requests.Session()
            session.headers.update({"Accept": "application/json", **self.auth_headers(secret)})
            extra = conn.extra_dejson if conn.extra else {}
            if "verify" in extra:
                session.verify = extra["verify"]
            self._session = session
        return self._session

    def close(self) -> None:
        """Release the pooled HTTP connections."""
        if self._session is not None:
            self._session.close()
            self._session = None

    @property
    def secrets(self) -> tuple[str, ...]:
        """The connection's secret and login (reads the connection on first use), to keep them out of any text."""
        self.get_conn()
        return self._secrets

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        repeat_safe: bool = False,
    ) -> Any:
        """One call, answered with the parsed JSON body (None when empty).

        GET, PATCH, PUT and DELETE are retried on 429/5xx/timeouts/dropped connections (PATCH with the same body
        is idempotent); POST is tried once (use ``create_once``) unless ``repeat_safe`` says the service drops a
        repeat itself. Raises ServiceAuthError on 401/403, ServiceRejected on other 4xx, ServiceUnavailable when
        retries run out.
        """
        method = method.upper()
        attempts = self.policy.attempts if method in IDEMPOTENT_METHODS or repeat_safe else 1
        try:
            return self.policy.retrying(attempts=attempts)(self._attempt, method, path, json=json, params=params)
        except Transient as exc:
            raise self._unavailable(method, path, exc, attempts) from None

    def create_once(
        self,
        path: str,
        payload: Mapping[str, Any],
        *,
        find: Callable[[], str | None],
        id_field: str = "id",
    ) -> str:
        """POST ``payload`` and return the new record's id, never creating two records.

        After any ambiguous failure (timeout, dropped connection, 5xx, 429, a 2xx without an id) the record may
        or may not exist, so before each retry ``find()`` (the GET by external id) is asked and its id returned
        if it has one. A 409 Conflict is also answered by ``find()``. Other 4xx are final and never retried.
        When retries run out, ``find()`` is asked one last time (after the policy's wait) before
        ServiceUnavailable is raised: ``attempts`` POSTs and ``attempts`` lookups at most.
        """
        posts = self.policy.attempts
        last = Transient("no attempt made")
        for attempt in self.policy.retrying(attempts=posts + 1):
            with attempt:
                number = attempt.retry_state.attempt_number
                if number > 1 and (found := find()):
                    self.log.info("%s: POST %s answer was lost; found the record %s", self.service_name, path, found)
                    return found
                if number > posts:
                    raise self._unavailable("POST", path, last, posts)
                try:
                    return self._post_for_id(path, payload, id_field)
                except Transient as exc:
                    last = exc
                    raise
                except ServiceRejected as exc:
                    if exc.status == 409 and (found := find()):
                        self.log.info("%s: POST %s conflicted with existing record %s", self.service_name, path, found)
                        return found
                    raise
        raise AssertionError("unreachable: tenacity returns or raises")

    def _post_for_id(self, path: str, payload: Mapping[str, Any], id_field: str) -> str:
        body = self._attempt("POST", path, json=payload)
        record_id = body.get(id_field) if isinstance(body, dict) else None
        if isinstance(record_id, str | int) and not isinstance(record_id, bool) and str(record_id):
            return str(record_id)
        raise Transient(f"answered without {id_field!r}")

    def _attempt(self, method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None) -> Any:
        session = self.get_conn()
        # An empty path is the base URL itself (the alert receiver's URL is the whole endpoint).
        url = self._base_url + "/" + path.lstrip("/") if path else self._base_url
        started = time.monotonic()
        try:
            # Redirects are not followed: requests would carry a custom secret header to any other host, and a
            # redirect means the connection points at the wrong address (e.g. CloudFront instead of the API).
            response = session.request(
                method, url, json=json, params=params, timeout=self.policy.timeout, allow_redirects=False
            )
        except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            elapsed = (time.monotonic() - started) * 1000
            kind = "timed out" if isinstance(exc, requests.Timeout) else "dropped the connection"
            self.log.info("%s %s %s -> %s after %.0f ms", self.service_name, method, path, kind, elapsed)
            raise Transient(kind) from None
        except requests.RequestException as exc:
            raise ServiceError(
                f"{self.service_name} {method} {path} failed: {self._safe(type(exc).__name__ + ': ' + str(exc))}"
            ) from None
        elapsed = (time.monotonic() - started) * 1000
        status = response.status_code
        self.log.info("%s %s %s -> %s in %.0f ms", self.service_name, method, path, status, elapsed)

        if status in (401, 403):
            raise ServiceAuthError(
                f"{self.service_name} refused the {self.secret_name} of connection {self.conn_id!r} "
                f"(HTTP {status}). Check the connection's password.",
                status=status,
            )
        if status in _TRANSIENT_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After")) if status in (429, 503) else None
            raise Transient(
                f"HTTP {status}: {self._safe(service_message(response))}", status=status, retry_after=retry_after
            )
        if 300 <= status < 400:
            raise ServiceRejected(
                f"{self.service_name} answered {method} {path} with a redirect (HTTP {status}); connection "
                f"{self.conn_id!r} should hold the API's own base URL.",
                status=status,
            )
        if status >= 400:
            said = self._safe(service_message(response))
            raise ServiceRejected(
                f"{self.service_name} rejected {method} {path} (HTTP {status}): {said}",
                status=status,
                service_message=said,
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            if method == "POST":
                raise Transient(f"HTTP {status} with a body that is not JSON") from None
            raise ServiceRejected(
                f"{self.service_name} answered {method} {path} (HTTP {status}) with a body that is not JSON",
                status=status,
            ) from None

    def _safe(self, text: str) -> str:
        return truncate(redact(text, self._secrets))

    def _unavailable(self, method: str, path: str, last: Transient, attempts: int) -> ServiceUnavailable:
        return ServiceUnavailable(
            f"{self.service_name} did not complete {method} {path or '(its URL)'} after {attempts} attempt(s): "
            f"{last.reason}",
            status=last.status,
        )


def matching_records(body: Any, *, key: str, value: str, service: str) -> list[dict[str, Any]]:
    """The ``items`` of a lookup answer that belong to ``value``.

    A record that names a different ``key`` value is dropped, so a service that ignored the query parameter
    cannot make the pipeline adopt another booking's record. Records without the field are kept.
    """
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise ServiceError(f"{service} answered a lookup by {key} without an 'items' list")
    return [item for item in items if isinstance(item, dict) and item.get(key, value) == value]


def created_record_id(records: list[dict[str, Any]], *, id_field: str, payload: Mapping[str, Any]) -> str | None:
    """The id of the record a lost create would have made, or None.

    When the payload is not itself a cancellation, a cancelled record is an earlier life of the booking, not
    the one being created, so only live records count.
    """
    if payload.get("status") != "cancelled":
        records = [r for r in records if str(r.get("status", "")).lower() not in ("cancelled", "canceled")]
    for record in records:
        record_id = record.get(id_field)
        if isinstance(record_id, str | int) and not isinstance(record_id, bool) and str(record_id):
            return str(record_id)
    return None
