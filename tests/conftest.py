"""Test-wide environment: a private AIRFLOW_HOME, set before anything imports airflow.

AIRFLOW-NOTES.md: dag.test() and DagBag need the home and folders fixed before the first airflow import.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_home = Path(os.environ.get("CHARTER_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="charter-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_home)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# Tests must never reach a real AWS account, whatever the developer's shell holds.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
