"""The FastAPI app the api-server mounts under /charter-bookings (plugins/charter_bookings_plugin.py).

Airflow does not authenticate plugin apps: every route here depends on ``requires_authenticated()``, which
accepts the UI's ``_token`` cookie or an ``Authorization: Bearer`` token. Without one, the JSON answers 401/403
and a browser asking for a page is sent to Airflow's login page and back.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from charter_pipeline.config import ConfigError, PipelineConfig, load_config
from charter_pipeline.staff_page import URL_PREFIX
from charter_pipeline.staff_page.board import STATUS_CHOICES, Board, FilterError, parse_filters

TEMPLATES_DIR = Path(__file__).resolve().parents[3] / "include" / "templates"
PAGE_TEMPLATE = "charter_bookings.html.j2"
DOCTOR_TEMPLATE = "charter_doctor.html.j2"

_ENVIRONMENT = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(enabled_extensions=("html", "htm", "j2"), default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _signed_in() -> Any:
    from airflow.api_fastapi.core_api.security import requires_authenticated

    return requires_authenticated()


def _headers(nonce: str) -> dict[str, str]:
    # Nothing from another origin: inline style and script only with this response's nonce.
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; img-src 'self'; "
            "form-action 'self'; frame-ancestors 'self'; base-uri 'none'"
        ),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def render_page(board: Board, *, base: str = URL_PREFIX + "/") -> tuple[str, str]:
    """The page's HTML and the nonce its CSP header must carry."""
    nonce = secrets.token_urlsafe(16)
    query = urlencode({k: v for k, v in board.filters.query().items() if v})
    html = _ENVIRONMENT.get_template(PAGE_TEMPLATE).render(
        board=board, base=base, statuses=STATUS_CHOICES, query=query, nonce=nonce
    )
    return html, nonce


def render_doctor(lines: list[dict[str, Any]], *, base: str = URL_PREFIX + "/") -> tuple[str, str]:
    nonce = secrets.token_urlsafe(16)
    return _ENVIRONMENT.get_template(DOCTOR_TEMPLATE).render(findings=lines, base=base, nonce=nonce), nonce


def deployed_config() -> PipelineConfig:
    from charter_pipeline.doctor import read_variable

    raw, _ = read_variable()
    try:
        return load_config(raw)
    except ConfigError as exc:
        raise HTTPException(status_code=503, detail=f"the charter_pipeline Variable is not usable: {exc}") from None


def create_app() -> FastAPI:
    app = FastAPI(
        title="Charter bookings",
        dependencies=[Depends(_signed_in())],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.exception_handler(HTTPException)
    def _refused(request: Request, exc: HTTPException) -> Response:
        # A person's browser without a session goes to the login page and comes back; API callers get the status.
        if exc.status_code in (401, 403) and "text/html" in request.headers.get("accept", ""):
            from airflow.api_fastapi.app import get_auth_manager

            return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=303)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    def board_for(raw_from: str | None, raw_to: str | None, status: str | None) -> Board:
        from charter_pipeline.staff_page.reading import read_board

        config = deployed_config()
        try:
            filters = parse_filters(raw_from, raw_to, status, datetime.now(UTC).astimezone(config.tz).date())
        except FilterError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return read_board(config, filters)

    # Plain def routes: the hooks block, so FastAPI runs them in its thread pool.
    @app.get("/", response_class=HTMLResponse)
    def page(request: Request) -> Response:
        query = request.query_params
        board = board_for(query.get("from"), query.get("to"), query.get("status"))
        html, nonce = render_page(board, base=str(request.url_for("page").path))
        return HTMLResponse(html, headers=_headers(nonce))

    @app.get("/api/bookings")
    def bookings(request: Request) -> JSONResponse:
        query = request.query_params
        board = board_for(query.get("from"), query.get("to"), query.get("status"))
        return JSONResponse(board.to_json(), headers={"Cache-Control": "no-store"})

    @app.get("/doctor", response_class=HTMLResponse)
    def doctor(request: Request) -> Response:
        from charter_pipeline.doctor import run

        findings = [{"line": f.line(), "ok": f.ok} for f in run()]
        html, nonce = render_doctor(findings, base=str(request.url_for("page").path))
        return HTMLResponse(html, headers=_headers(nonce))

    @app.get("/api/doctor")
    def doctor_json() -> JSONResponse:
        from charter_pipeline.doctor import run

        findings = run()
        return JSONResponse(
            {
                "ok": not any(f.ok is False for f in findings),
                "checks": [{"check": f.check, "ok": f.ok, "detail": f.detail, "fix": f.fix} for f in findings],
            },
            headers={"Cache-Control": "no-store"},
        )

    return app
