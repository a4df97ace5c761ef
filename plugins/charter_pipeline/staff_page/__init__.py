"""The staff's "Charter bookings" page in the Airflow UI (CONTRACT.md section 13): the read model, the FastAPI app."""

# Where the api-server mounts the page (CONTRACT.md section 13).
from __future__ import annotations

URL_PREFIX = "/charter-bookings"
