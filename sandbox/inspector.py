"""The local stack's inspector: one read-only page showing what the pipeline did to the outside world.

    python -m sandbox.inspector            serve it on http://127.0.0.1:8095/ (refreshes itself every 5 s)
    python -m sandbox.inspector --once     print the same tables once and exit

It shows the JADA calendar entries and the SCC e-mail outbox (from the stand-ins' ``/_sandbox/state``), the crew's
answers with Accept/Decline buttons (forms that post to SCC's own magic links, so the inspector itself still only
reads), the alerts the operations desk received, the retired guest pages, the SCC
events as stored in ``scc_events_table`` (after the pipeline's notes scrub, which is the point of looking there),
CloudFront invalidations, the ledger (the pipeline's own ``#`` bookkeeping items apart) and the quarantined rows.
It only reads, and it never shows a token or key: the stand-ins' secrets are masked wherever they would appear,
and fields named like credentials are left out. Never imported by the pipeline.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import html
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse, urlsplit

from sandbox.serving import BackgroundServer

if TYPE_CHECKING:
    from charter_pipeline.config import PipelineConfig

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PORT = 8095
# Where `make run` puts its stand-ins (sandbox/run.py) and the Variable it wrote, so a bare command finds them.
DEFAULT_JADA_URL = "http://127.0.0.1:8081"
DEFAULT_SCC_URL = "http://127.0.0.1:8082/prod"
DEFAULT_AWS_ENDPOINT = "http://127.0.0.1:5055"
DEFAULT_PREVIEW_URL = "http://127.0.0.1:8090"
RUN_VARIABLE_FILE = REPO / ".sandbox" / "charter_pipeline.json"
REFRESH_SECONDS = 5
MASK = "[hidden]"
# Attribute names that may carry a credential. The stand-ins' request logs hold headers: never shown at all.
_CREDENTIAL_NAME = re.compile(
    r"token|secret|password|passwd|authori[sz]ation|api.?key|service.?key|access.?key|cookie", re.IGNORECASE
)
_CELL_LIMIT = 400


@dataclass(frozen=True)
class InspectorSources:
    """Where the inspector looks. ``secrets`` are values masked wherever they would appear (tokens, keys)."""

    jada_url: str
    scc_url: str
    aws_endpoint: str
    config: PipelineConfig
    region: str = "us-east-1"
    secrets: tuple[str, ...] = ()
    preview_url: str = ""  # the guest-site preview, so ledger rows can link each guest page
    alerts_url: str = ""  # the operations desk's alert receiver stand-in


@dataclass
class Section:
    """One table of the page: a title, column names and rows of text; ``note`` says what is empty or unreachable."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""
    links: tuple[str, ...] = ()  # columns whose http(s) values render as links
    buttons: tuple[str, ...] = ()  # columns whose http(s) value is a magic link: Accept / Decline buttons


# --- reading the stack ---------------------------------------------------------------------------------------


def collect(sources: InspectorSources) -> list[Section]:
    """Every section, read fresh. A source that cannot be read becomes a section saying so, never an error."""
    clients = _AwsClients(sources)
    jada = _guarded(lambda: _sandbox_state(sources.jada_url))
    scc = _guarded(lambda: _sandbox_state(sources.scc_url))
    ledger = _guarded(lambda: clients.scan(sources.config.ledger_table))
    bookings = _ledger_bookings(ledger, sources.preview_url)
    bookkeeping = _ledger_bookkeeping(ledger)
    sections = [
        _from_state(jada, "Calendar entries (JADA)", ("entries", "calendar", "items"), CALENDAR_COLUMNS),
        _guarded_section(
            "SCC events as stored (DynamoDB " + sources.config.scc_events_table + ")",
            SCC_COLUMNS,
            lambda: _scc_events(clients.scan(sources.config.scc_events_table)),
        ),
        _from_state(scc, "E-mail outbox (SCC)", ("outbox", "emails", "mail"), OUTBOX_COLUMNS),
        _crew_answers(scc),
        _alerts_received(_guarded(lambda: _sandbox_state(sources.alerts_url)) if sources.alerts_url else None),
        _retired_pages(ledger, sources.preview_url),
        # charter_reconcile's last drift report belongs here (engineer E2's section).
        _guarded_section("CloudFront invalidations", INVALIDATION_COLUMNS, lambda: _invalidations(clients, sources)),
        bookings,
        bookkeeping,
        _drift_report(ledger),
        _guarded_section("Quarantined rows", QUARANTINE_COLUMNS, lambda: _quarantine(clients, sources)),
    ]
    return [_masked(section, sources.secrets) for section in sections]


CALENDAR_COLUMNS = (
    "id",
    "external_id",
    "status",
    "charter_date",
    "start",
    "end",
    "boat",
    "guest_name",
    "party_size",
    "captain",
    "gross_revenue",
    "net_revenue",
    "guest_url",
)
SCC_COLUMNS = ("event_id", "external_ref", "status", "date", "start", "boat", "guest", "crew", "notes", "other")
OUTBOX_COLUMNS = ("to", "subject", "event_id", "kind", "sent_at", "link")
INVALIDATION_COLUMNS = ("distribution", "id", "status", "created", "caller_reference", "paths")
LEDGER_COLUMNS = (
    "booking_id",
    "guest",
    "trip_date",
    "status",
    "state",
    "session_id",
    "guest_page",
    "calendar_id",
    "scc_event_id",
    "source",
    "last_error",
    "updated_at",
)
BOOKKEEPING_COLUMNS = ("item", "contents", "updated_at")
CREW_ANSWER_COLUMNS = ("external_ref", "date", "start", "name", "role", "response", "answer")
ALERT_COLUMNS = ("received_at", "kind", "booking_id", "alert_id", "repeat", "text")
RETIRED_COLUMNS = ("booking_id", "session_id", "guest_page", "retired_at", "retired_invalidation_id")
QUARANTINE_COLUMNS = ("object", "source", "row", "reason", "raw")


class _Unreadable(Exception):
    """A source could not be read; the message is shown instead of its table."""


def _guarded(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception as exc:  # the page shows any failure of one source and goes on with the rest
        return _Unreadable(f"{type(exc).__name__}: {exc}"[:300])


def _guarded_section(title: str, columns: Sequence[str], read: Callable[[], list[list[str]]]) -> Section:
    rows = _guarded(read)
    if isinstance(rows, _Unreadable):
        return Section(title, list(columns), note=f"unreadable: {rows}")
    return Section(title, list(columns), rows, note="" if rows else "none yet")


def _sandbox_state(service_url: str) -> dict[str, Any]:
    """``GET /_sandbox/state`` of a stand-in, at its root or under the given base URL (SCC's has a stage)."""
    import requests

    parts = urlsplit(service_url)
    root = f"{parts.scheme}://{parts.netloc}"
    candidates = dict.fromkeys([f"{root}/_sandbox/state", f"{service_url.rstrip('/')}/_sandbox/state"])
    answer = None
    for url in candidates:
        answer = requests.get(url, timeout=5)
        if answer.status_code != HTTPStatus.NOT_FOUND:
            break
    assert answer is not None
    answer.raise_for_status()
    state = answer.json()
    if not isinstance(state, dict):
        raise _Unreadable("the state is not a JSON object")
    return state


class _AwsClients:
    """boto3 clients on the stack's AWS endpoint (moto), made on first use."""

    def __init__(self, sources: InspectorSources) -> None:
        self.sources = sources
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3
            from botocore.config import Config

            session = boto3.session.Session()
            # moto takes any key; a real default profile, if the machine has one, is never needed here.
            self._clients[service] = session.client(
                service,  # type: ignore[call-overload]
                endpoint_url=self.sources.aws_endpoint,
                region_name=self.sources.region,
                aws_access_key_id="inspector",
                aws_secret_access_key="inspector",
                config=Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 1}),
            )
        return self._clients[service]

    def scan(self, table: str) -> list[dict[str, Any]]:
        from boto3.dynamodb.types import TypeDeserializer

        plain = TypeDeserializer()
        items: list[dict[str, Any]] = []
        for page in self.client("dynamodb").get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            items += [{name: plain.deserialize(value) for name, value in item.items()} for item in page["Items"]]
        return items


def _state_items(state: Mapping[str, Any], keys: Iterable[str]) -> list[dict[str, Any]]:
    for key in keys:
        value = state.get(key)
        if isinstance(value, Mapping):
            return [dict(v, **({} if "id" in v else {"id": k})) for k, v in value.items() if isinstance(v, Mapping)]
        if isinstance(value, list):
            return [dict(v) for v in value if isinstance(v, Mapping)]
    return []


def _from_state(state: Any, title: str, keys: Sequence[str], preferred: Sequence[str]) -> Section:
    if isinstance(state, _Unreadable):
        return Section(title, list(preferred), note=f"unreadable: {state}")
    items = _state_items(state, keys)
    columns = _columns(items, preferred)
    return Section(
        title, columns, [[_cell(item.get(c)) for c in columns] for item in items], note="" if items else "none yet"
    )


def _columns(items: Sequence[Mapping[str, Any]], preferred: Sequence[str], limit: int = 14) -> list[str]:
    present = {name for item in items for name in item if not _CREDENTIAL_NAME.search(name)}
    chosen = [c for c in preferred if c in present or not items]
    chosen += sorted(present - set(chosen))
    return chosen[:limit]


def _scc_events(items: list[dict[str, Any]]) -> list[list[str]]:
    known = set(SCC_COLUMNS)
    rows = []
    for item in sorted(items, key=lambda i: str(i.get("event_id", ""))):
        other = {k: v for k, v in item.items() if k not in known and not _CREDENTIAL_NAME.search(k)}
        rows.append([_cell(item.get(c)) for c in SCC_COLUMNS[:-1]] + [_cell(other) if other else ""])
    return rows


def _invalidations(clients: _AwsClients, sources: InspectorSources) -> list[list[str]]:
    cloudfront = clients.client("cloudfront")
    ids = (
        [sources.config.cloudfront_distribution_id]
        if sources.config.cloudfront_distribution_id
        else [d["Id"] for d in cloudfront.list_distributions().get("DistributionList", {}).get("Items", []) or []]
    )
    rows = []
    for distribution in ids:
        listed = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"]
        for summary in listed.get("Items", []) or []:
            detail = cloudfront.get_invalidation(DistributionId=distribution, Id=summary["Id"])["Invalidation"]
            batch = detail.get("InvalidationBatch", {})
            rows.append(
                [
                    distribution,
                    summary["Id"],
                    str(summary.get("Status", "")),
                    _cell(summary.get("CreateTime")),
                    str(batch.get("CallerReference", "")),
                    " ".join(batch.get("Paths", {}).get("Items", []) or []),
                ]
            )
    return rows


def _ledger_bookings(ledger: Any, preview_url: str) -> Section:
    title = "Ledger: bookings"
    if isinstance(ledger, _Unreadable):
        return Section(title, list(LEDGER_COLUMNS), note=f"unreadable: {ledger}")
    rows = []
    for item in sorted(
        (i for i in ledger if not str(i.get("booking_id", "")).startswith("#")), key=lambda i: str(i.get("booking_id"))
    ):
        snapshot = _json_object(item.get("snapshot"))
        guest = str(snapshot.get("renter_name", "")).split(" ")[0]
        session_id = str(item.get("session_id") or "")
        page = f"{preview_url.rstrip('/')}/g/{session_id}" if preview_url and session_id else ""
        values = {**item, "guest": guest, "trip_date": snapshot.get("trip_date", ""), "guest_page": page}
        rows.append([_cell(values.get(c)) for c in LEDGER_COLUMNS])
    return Section(title, list(LEDGER_COLUMNS), rows, note="" if rows else "none yet", links=("guest_page",))


def _crew_answers(scc: Any) -> Section:
    """Each crew member's answer as SCC holds it, with the member's latest magic link for the buttons."""
    title = "Crew answers (SCC; the buttons answer through the crew member's magic link)"
    if isinstance(scc, _Unreadable):
        return Section(title, list(CREW_ANSWER_COLUMNS), note=f"unreadable: {scc}")
    links = {(m.get("event_id"), m.get("to")): m.get("link", "") for m in _state_items(scc, ("outbox",))}
    rows = []
    for event in _state_items(scc, ("events",)):
        for member in event.get("crew") or []:
            if not isinstance(member, Mapping):
                continue
            link = links.get((event.get("event_id"), member.get("email")), "")
            values = {**event, **member, "answer": link or "(no e-mail: no magic link)"}
            rows.append([_cell(values.get(c)) for c in CREW_ANSWER_COLUMNS])
    return Section(title, list(CREW_ANSWER_COLUMNS), rows, note="" if rows else "none yet", buttons=("answer",))


def _alerts_received(state: Any) -> Section:
    title = "Alerts received (operations desk)"
    if state is None:
        return Section(title, list(ALERT_COLUMNS), note="no alert receiver configured")
    if isinstance(state, _Unreadable):
        return Section(title, list(ALERT_COLUMNS), note=f"unreadable: {state}")
    alerts = sorted(_state_items(state, ("alerts",)), key=lambda a: str(a.get("received_at")), reverse=True)
    rows = [[_cell(alert.get(c)) for c in ALERT_COLUMNS] for alert in alerts]
    return Section(title, list(ALERT_COLUMNS), rows, note="" if rows else "none yet")


def _retired_pages(ledger: Any, preview_url: str) -> Section:
    title = "Retired guest pages"
    if isinstance(ledger, _Unreadable):
        return Section(title, list(RETIRED_COLUMNS), note=f"unreadable: {ledger}")
    rows = []
    for item in sorted((i for i in ledger if i.get("retired_hash")), key=lambda i: str(i.get("booking_id"))):
        session_id = str(item.get("session_id") or "")
        page = f"{preview_url.rstrip('/')}/g/{session_id}" if preview_url and session_id else ""
        values = {
            **item,
            "guest_page": page,
            "retired_at": item.get("retired_at") or "(notice uploaded, not invalidated)",
        }
        rows.append([_cell(values.get(c)) for c in RETIRED_COLUMNS])
    return Section(title, list(RETIRED_COLUMNS), rows, note="" if rows else "none yet", links=("guest_page",))


def _ledger_bookkeeping(ledger: Any) -> Section:
    title = "Ledger: the pipeline's bookkeeping (# items)"
    if isinstance(ledger, _Unreadable):
        return Section(title, list(BOOKKEEPING_COLUMNS), note=f"unreadable: {ledger}")
    rows = []
    for item in sorted(
        (i for i in ledger if str(i.get("booking_id", "")).startswith("#")), key=lambda i: str(i.get("booking_id"))
    ):
        contents = {k: _bookkeeping_value(v) for k, v in item.items() if k not in ("booking_id", "updated_at")}
        rows.append([str(item["booking_id"]), _cell(contents), _cell(item.get("updated_at"))])
    return Section(title, list(BOOKKEEPING_COLUMNS), rows, note="" if rows else "none yet")


DRIFT_COLUMNS = ("booking_id", "guest", "charter_date", "outcome", "detail")


def _drift_report(ledger: Any) -> Section:
    """The last charter_reconcile run: one row per difference, repair, skip or error, per booking."""
    from charter_pipeline.ledger import DRIFT_REPORT_ID

    title = "Last drift report (charter_reconcile)"
    if isinstance(ledger, _Unreadable):
        return Section(title, list(DRIFT_COLUMNS), note=f"unreadable: {ledger}")
    item = next((i for i in ledger if i.get("booking_id") == DRIFT_REPORT_ID), None)
    report = _bookkeeping_value(item.get("report")) if item else None
    if not isinstance(report, dict):
        return Section(title, list(DRIFT_COLUMNS), note="no reconcile run yet")
    rows = []
    for row in report.get("bookings", []):
        details = [f"differs: {line}" for line in row.get("differences", [])]
        details += [f"repaired: {line}" for line in row.get("repairs", [])]
        details += [f"alert {row['alert']}"] if row.get("alert") else []
        details += [row["note"]] if row.get("note") else []
        for detail in details or [""]:
            rows.append([_cell(row.get(c)) for c in DRIFT_COLUMNS[:4]] + [_cell(detail)])
    counts = ", ".join(f"{name} {count}" for name, count in report.get("counts", {}).items())
    return Section(title, list(DRIFT_COLUMNS), rows, note=f"checked at {report.get('checked_at')}: {counts}")


def _bookkeeping_value(value: Any) -> Any:
    # The poll state keeps its file list gzipped (binary); show what it holds, not bytes.
    raw = getattr(value, "value", value)
    if isinstance(raw, bytes | bytearray):
        try:
            return json.loads(gzip.decompress(bytes(raw)))
        except (OSError, ValueError):
            return f"<{len(raw)} bytes>"
    if isinstance(raw, str) and raw[:1] in "[{":
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _json_object(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _quarantine(clients: _AwsClients, sources: InspectorSources) -> list[list[str]]:
    uri = sources.config.quarantine_uri
    records: list[tuple[str, bytes]] = []
    if uri.startswith("s3://"):
        parsed = urlparse(uri)
        s3 = clients.client("s3")
        prefix = parsed.path.lstrip("/")
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=parsed.netloc, Prefix=prefix):
            for obj in page.get("Contents", []) or []:
                if obj["Key"].endswith(".json"):
                    body = s3.get_object(Bucket=parsed.netloc, Key=obj["Key"])["Body"].read()
                    records.append((obj["Key"][len(prefix) :], body))
    else:
        folder = Path(unquote(urlparse(uri).path))
        if folder.is_dir():
            records = [(str(p.relative_to(folder)), p.read_bytes()) for p in sorted(folder.rglob("*.json"))]
    rows = []
    for name, body in records:
        record = _json_object(body.decode("utf-8", errors="replace"))
        rows.append(
            [
                name,
                _cell(record.get("source")),
                _cell(record.get("row")),
                _cell(record.get("reason")),
                _cell(record.get("raw")),
            ]
        )
    return rows


# --- presenting ----------------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    elif isinstance(value, Decimal):
        text = str(value)
    elif isinstance(value, datetime):
        text = value.astimezone(UTC).isoformat(timespec="seconds")
    elif isinstance(value, Mapping | list | tuple | set):
        text = json.dumps(_without_credentials(value), default=str, ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    return text if len(text) <= _CELL_LIMIT else text[: _CELL_LIMIT - 1] + "…"


def _without_credentials(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_credentials(v) for k, v in value.items() if not _CREDENTIAL_NAME.search(str(k))}
    if isinstance(value, list | tuple | set):
        return [_without_credentials(v) for v in value]
    return value


def _masked(section: Section, secrets: Sequence[str]) -> Section:
    live = [s for s in secrets if s]
    if not live:
        return section

    def mask(text: str) -> str:
        for secret in live:
            text = text.replace(secret, MASK)
        return text

    rows = [[mask(c) for c in row] for row in section.rows]
    return Section(mask(section.title), section.columns, rows, mask(section.note), section.links, section.buttons)


_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1b2733; }
h1 { font-size: 1.3rem; } h2 { font-size: 1.05rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #c8d1da; padding: .3rem .45rem; text-align: left; vertical-align: top; }
th { background: #eef2f6; } td { white-space: pre-wrap; word-break: break-word; font-size: 13px; }
.note { color: #5a6b7b; font-style: italic; }
"""


def render_html(sections: Sequence[Section], *, refresh_seconds: int = REFRESH_SECONDS) -> str:
    """The page: every section as a plain table, escaped, refreshing itself."""
    read_at = datetime.now(UTC).strftime("%H:%M:%S UTC")
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="refresh" content="{int(refresh_seconds)}">',
        '<meta name="robots" content="noindex, nofollow">',
        "<title>Charter pipeline inspector</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Charter pipeline inspector (local stack, read-only)</h1>",
        f'<p class="note">Read at {html.escape(read_at)}; refreshes every {int(refresh_seconds)} s.</p>',
    ]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)} ({len(section.rows)})</h2>")
        if section.note:
            parts.append(f'<p class="note">{html.escape(section.note)}</p>')
        if section.rows:
            parts.append("<table><thead><tr>")
            parts += [f"<th>{html.escape(c)}</th>" for c in section.columns]
            parts.append("</tr></thead><tbody>")
            linked = [c in section.links for c in section.columns]
            buttons = [c in section.buttons for c in section.columns]
            for row in section.rows:
                cells = (
                    _answer_buttons(c) if button else _html_cell(c, link)
                    for c, link, button in zip(row, linked, buttons, strict=True)
                )
                parts.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
            parts.append("</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_cell(text: str, link: bool) -> str:
    # Only plain web addresses become links: a value like "javascript:..." stays inert text.
    if link and re.match(r"https?://[^\s\"'<>]+$", text):
        return f'<a href="{html.escape(text, quote=True)}">{html.escape(text)}</a>'
    return html.escape(text)


def _answer_buttons(link: str) -> str:
    """Accept / Decline as the crew member would: a form posting to their magic link at the SCC stand-in."""
    if not re.match(r"https?://[^\s\"'<>]+$", link):
        return html.escape(link)
    action = html.escape(link, quote=True)
    return "".join(
        f'<form method="post" action="{action}" style="display:inline">'
        f'<button name="response" value="{value}">{label}</button></form> '
        for value, label in (("accepted", "Accept"), ("declined", "Decline"))
    )


def render_text(sections: Sequence[Section], *, width: int = 48) -> str:
    """The same tables as plain text, cells cut to ``width`` characters."""
    out: list[str] = []
    for section in sections:
        out.append(f"== {section.title} ({len(section.rows)}) ==")
        if section.note:
            out.append(f"   {section.note}")
        if not section.rows:
            out.append("")
            continue
        cells = [[_one_line(c, width) for c in section.columns]] + [
            [_one_line(c, width) for c in r] for r in section.rows
        ]
        sizes = [max(len(row[i]) for row in cells) for i in range(len(section.columns))]
        for n, row in enumerate(cells):
            out.append("  ".join(text.ljust(size) for text, size in zip(row, sizes, strict=True)).rstrip())
            if n == 0:
                out.append("  ".join("-" * size for size in sizes))
        out.append("")
    return "\n".join(out)


def _one_line(text: str, width: int) -> str:
    flat = " | ".join(line.strip() for line in text.splitlines() if line.strip())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


# --- serving -------------------------------------------------------------------------------------------------


class Inspector(BackgroundServer):
    """The read-only page on a local port; ``start()`` serves from a daemon thread and returns the URL."""

    thread_name = "inspector"

    def __init__(self, sources: InspectorSources, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
        self.sources = sources
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def page(self) -> str:
        return render_html(collect(self.sources))


def _handler_for(inspector: Inspector) -> type[BaseHTTPRequestHandler]:
    class InspectorHandler(BaseHTTPRequestHandler):
        server_version = "charter-inspector"
        sys_version = ""

        def do_GET(self) -> None:
            if urlsplit(self.path).path not in ("/", "/index.html"):
                self._send(HTTPStatus.NOT_FOUND, b"Not found.", "text/plain; charset=utf-8")
                return
            body = inspector.page().encode("utf-8")
            self._send(HTTPStatus.OK, body, "text/html; charset=utf-8")

        def do_HEAD(self) -> None:
            self._send(HTTPStatus.OK, b"", "text/html; charset=utf-8")

        def do_POST(self) -> None:
            self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"The inspector only reads.", "text/plain; charset=utf-8")

        do_PUT = do_PATCH = do_DELETE = do_POST

        def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return InspectorHandler


def _variable(value: str | None) -> str | None:
    if value is not None:
        return value if value.lstrip().startswith("{") else Path(value).read_text(encoding="utf-8")
    if os.environ.get("AIRFLOW_VAR_CHARTER_PIPELINE"):
        return os.environ["AIRFLOW_VAR_CHARTER_PIPELINE"]
    return RUN_VARIABLE_FILE.read_text(encoding="utf-8") if RUN_VARIABLE_FILE.is_file() else None


def secrets_from_environment(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The passwords and keys of every ``AIRFLOW_CONN_*`` connection in the environment, to be masked."""
    found: list[str] = []
    for name, value in (os.environ if environ is None else environ).items():
        if not name.startswith("AIRFLOW_CONN_"):
            continue
        try:
            conn = json.loads(value)
        except ValueError:
            conn = {"password": unquote(urlparse(value).password or "")}
        if not isinstance(conn, dict):
            continue
        extra = conn.get("extra")
        if not isinstance(extra, dict):
            extra = {}
        candidates = [conn.get("password"), *(v for k, v in extra.items() if _CREDENTIAL_NAME.search(k))]
        found += [str(c) for c in candidates if c and isinstance(c, str)]
    return tuple(dict.fromkeys(found))


def main(argv: list[str] | None = None) -> int:
    """``python -m sandbox.inspector``: serve the page, or print it once with ``--once``."""
    from sandbox.bootstrap import put_plugins_on_path

    put_plugins_on_path()
    from charter_pipeline.config import ConfigError, load_config

    parser = argparse.ArgumentParser(prog="python -m sandbox.inspector", description=__doc__.split("\n\n")[0])
    parser.add_argument("--once", action="store_true", help="print the tables once and exit")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--jada-url", default=DEFAULT_JADA_URL, help=f"JADA stand-in (default {DEFAULT_JADA_URL})")
    parser.add_argument("--scc-url", default=DEFAULT_SCC_URL, help=f"SCC stand-in (default {DEFAULT_SCC_URL})")
    parser.add_argument(
        "--aws-endpoint", default=DEFAULT_AWS_ENDPOINT, help=f"moto endpoint (default {DEFAULT_AWS_ENDPOINT})"
    )
    parser.add_argument(
        "--preview-url", default=DEFAULT_PREVIEW_URL, help=f"guest-site preview (default {DEFAULT_PREVIEW_URL})"
    )
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument(
        "--variable",
        metavar="FILE|JSON",
        help="the charter_pipeline Variable (default: $AIRFLOW_VAR_CHARTER_PIPELINE, else the one "
        "`make run` wrote, else the defaults)",
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(_variable(args.variable))
    except (ConfigError, OSError) as exc:
        print(f"inspector: {exc}", file=sys.stderr)
        return 2
    sources = InspectorSources(
        args.jada_url,
        args.scc_url,
        args.aws_endpoint,
        config,
        region=args.region,
        secrets=secrets_from_environment(),
        preview_url=args.preview_url,
    )
    if args.once:
        print(render_text(collect(sources)))
        return 0
    inspector = Inspector(sources, host=args.host, port=args.port)
    print(f"Inspector on {inspector.url}  (read-only; Ctrl-C stops it)")
    with contextlib.suppress(KeyboardInterrupt):
        inspector.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
