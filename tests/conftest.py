"""Test-wide environment: a private AIRFLOW_HOME, set before anything imports airflow.

AIRFLOW-NOTES.md: dag.test() and DagBag need the home and folders fixed before the first airflow import.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

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


# `make test` spreads the suite over two pytest-xdist workers (`-n 2`). The scheduler below hands each worker whole
# groups, longest first, so the other worker works through the many short ones meanwhile. A test module is its own
# group, so its module-scoped fixtures (a sandbox stack, a started topology) start once. Two groups are bigger:
# - the deployment topologies all run on one worker, one after the other: each is several processes timed by a
#   scheduler, and two at once on a two-core machine would measure the machine, not the pipeline;
# - the reliability suite writes docs/RELIABILITY.md only when it has seen every one of its checks.
# (xdist's own `--dist loadgroup` would do this with marks, but pytest-xdist 3.8 cannot rename pytest 9.2's node ids.)
WHOLE_GROUPS = ("deployment", "reliability")
LONGEST_FIRST = ("deployment", "reliability", "e2e", "browser", "staff_page", "benchmarks", "sandbox")


def group_of(nodeid: str) -> str:
    """The group a test runs in: its folder for the whole groups, else its module."""
    module = PurePosixPath(nodeid.split("::", 1)[0])
    return module.parent.name if module.parent.name in WHOLE_GROUPS else str(module)


def _rank(item: pytest.Item) -> int:
    folder = item.path.parent.name
    return LONGEST_FIRST.index(folder) if folder in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: a module's tests keep their order, and the groups come in LONGEST_FIRST order


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        """xdist's per-module scheduling, with our groups, in collection order (not its own: most tests first)."""

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    config.option.loadscopereorder = False
    return GroupScheduling(config, log)
