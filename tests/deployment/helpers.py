"""Helpers of the deployment tests (a helper module, no tests here): the deployed topology, started natively
(sandbox/topology.py), is shared by every test of a module.

These tests drive the pipeline the way staff and the scheduler do: through ``/api/v2`` and the exports bucket, and
read the outcome at the services (the stand-ins) and in Airflow's REST API. They never import the pipeline.
Nothing here skips: a machine without PostgreSQL, Redis or ``ss`` fails with the reason (``make system-deps``).
"""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from sandbox.samples import today_in_san_diego
from sandbox.topology import PG_BIN

REQUIRED = {
    "PostgreSQL 15": PG_BIN / "postgres",
    "redis-server": shutil.which("redis-server"),
    "ss (iproute2)": shutil.which("ss"),
    "unshare": shutil.which("unshare"),
}


def require_system_deps() -> None:
    missing = [name for name, path in REQUIRED.items() if not path or not Path(path).exists()]
    if missing:
        pytest.fail(f"the deployment tests need {', '.join(missing)}: run `make system-deps`", pytrace=False)


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def overlapping_on_two_hosts(instances: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Pairs of task instances that ran at the same moment on different hostnames."""
    ran = [ti for ti in instances if ti.get("start_date") and ti.get("end_date") and ti.get("hostname")]
    pairs = []
    for i, first in enumerate(ran):
        for second in ran[i + 1 :]:
            if first["hostname"] == second["hostname"]:
                continue
            if when(first["start_date"]) < when(second["end_date"]) and when(second["start_date"]) < when(
                first["end_date"]
            ):
                pairs.append(
                    (f"{first['task_id']}[{first['map_index']}]", f"{second['task_id']}[{second['map_index']}]")
                )
    return pairs


def today() -> date:
    """Today where the charters sail (the exports' and the pipeline's calendar)."""
    return today_in_san_diego()
