"""DAG integrity checks, as functions over a dags folder so that tests can aim them at broken folders too.

``parse_dags`` parses a folder in a fresh interpreter (``parse_probe.py``) with a private AIRFLOW_HOME, no
``AIRFLOW_CONN_*``/``AIRFLOW_VAR_*``/``AIRFLOW__*`` settings from the caller, no PYTHONPATH, and guards on every
Variable, Connection, secrets-backend and network lookup. ``integrity_problems`` turns the report into sentences.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("parse_probe.py")
# Airflow's [operators] default_owner: a DAG still owned by it has no one to page.
DEFAULT_OWNER = "airflow"
MIN_RETRIES = 2

_CALLER_SCHEDULE = ("PYTHONPATH", "CHARTER_POLL_SCHEDULE", "CHARTER_EXPORTS_QUEUE_URL")
_CALLER_SETTINGS = ("AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW__", "AIRFLOW_HOME", "AIRFLOW_CONFIG")


@dataclass(frozen=True)
class DagFacts:
    """What the checks need to know about one parsed DAG."""

    dag_id: str
    fileloc: str
    tags: list[str]
    owners: list[str]
    retries: list[int]
    default_retries: int | None
    doc_md: str
    schedule: str | None
    catchup: bool
    max_active_runs: int
    task_ids: list[str]


@dataclass(frozen=True)
class ParseReport:
    """One parse of a dags folder: import errors by file, DAGs by id, and every guarded lookup attempted."""

    import_errors: dict[str, str]
    dags: dict[str, DagFacts]
    touched: list[str]


def parse_dags(
    dags_folder: Path, *, env: Mapping[str, str] | None = None, plugins_folder: Path = REPO / "plugins"
) -> ParseReport:
    """Parse ``dags_folder`` as a deployment would (dags and plugins folders set, nothing else) and report."""
    with tempfile.TemporaryDirectory(prefix="dag-parse-") as scratch:
        home = Path(scratch)
        environment = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(_CALLER_SETTINGS) and name not in _CALLER_SCHEDULE
        }
        environment.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            }
        )
        environment.update(env or {})
        report_file = home / "report.json"
        # cwd is the scratch folder: a DAG must find its files relative to itself, not to where Airflow started.
        done = subprocess.run(
            [sys.executable, str(PROBE), str(dags_folder), str(report_file)],
            cwd=home,
            env=environment,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if done.returncode != 0 or not report_file.exists():
            raise RuntimeError(f"parse probe exited {done.returncode}:\n{done.stderr[-4000:]}")
        raw: dict[str, Any] = json.loads(report_file.read_text())
    return ParseReport(
        import_errors=raw["import_errors"],
        dags={dag_id: DagFacts(**facts) for dag_id, facts in raw["dags"].items()},
        touched=raw["touched"],
    )


def integrity_problems(report: ParseReport) -> list[str]:
    """Every way the parsed folder falls short, one sentence each; empty when the folder is sound."""
    problems = [
        f"{Path(file).name}: import error: {_last_line(error)}" for file, error in sorted(report.import_errors.items())
    ]
    problems += [f"parsing touched {what}" for what in report.touched]
    if not report.dags and not report.import_errors:
        problems.append("no DAG found")
    for dag_id, dag in sorted(report.dags.items()):
        if not dag.task_ids:
            problems.append(f"{dag_id}: has no tasks")
        if not dag.tags:
            problems.append(f"{dag_id}: has no tags")
        if not dag.owners or DEFAULT_OWNER in dag.owners:
            problems.append(f"{dag_id}: owner must be set (not the default {DEFAULT_OWNER!r}), got {dag.owners}")
        # A DAG-wide floor; a task may still lower its own retries explicitly (a summary that must not repeat).
        if not isinstance(dag.default_retries, int) or dag.default_retries < MIN_RETRIES:
            problems.append(f"{dag_id}: default_args retries must be >= {MIN_RETRIES}, got {dag.default_retries}")
        if not dag.doc_md.strip():
            problems.append(f"{dag_id}: has no doc_md")
    return problems


def _last_line(error: str) -> str:
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else error
