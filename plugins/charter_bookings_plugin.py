"""Registers the staff's "Charter bookings" page with Airflow (CONTRACT.md section 13).

Airflow imports every module at the top of plugins/; this one only wires: the app lives in
charter_pipeline.staff_page, the templates in include/templates/.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from charter_pipeline.staff_page import URL_PREFIX


class _StaffPageApp:
    """``fastapi_apps``, built the first time something reads it: only the api-server (and ``airflow plugins``)
    does. Every task process imports plugins/ too, and FastAPI with Airflow's security module costs seconds."""

    def __init__(self) -> None:
        self._apps: list[dict[str, Any]] | None = None

    def __get__(self, instance: object, owner: type | None = None) -> list[dict[str, Any]]:
        if self._apps is None:
            from charter_pipeline.staff_page.app import create_app

            self._apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Charter bookings"}]
        return self._apps


class CharterBookingsPlugin(AirflowPlugin):
    name = "charter_bookings"
    fastapi_apps = _StaffPageApp()
    # No url_route: the entry opens the page on its own rather than in the UI's frame. Airflow frames plugin views
    # in a sandbox without allow-popups, where a guest page link (a page that refuses to be framed itself:
    # include/cloudfront/response-headers-policy.json) could not be opened at all. "browse" puts the entry in
    # the Browse menu beside the other operational views.
    external_views = [  # noqa: RUF012 (AirflowPlugin declares it a plain class-level list)
        {
            "name": "Charter bookings",
            "href": URL_PREFIX + "/",
            "destination": "nav",
            "category": "browse",
        }
    ]
