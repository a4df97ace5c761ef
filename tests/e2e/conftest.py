"""Fixtures for whole-DAG runs: one migrated AIRFLOW_HOME per session, one sandbox stack per module, and a fresh
deployment (own exports prefix and ledger table) per test."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.bootstrap import bootstrap
from sandbox.run import airflow_env
from sandbox.stack import SandboxStack
from tests.e2e.harness import AIRFLOW, REPO, Deployment


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("airflow-home")
    env = airflow_env(home, connections={}, variable={})
    done = subprocess.run(
        [AIRFLOW, "db", "migrate"], env=env, cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return home


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxStack]:
    with SandboxStack(tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture(scope="module")
def distribution_id(stack: SandboxStack) -> str:
    from charter_pipeline.config import load_config

    with pytest.MonkeyPatch.context() as patch:
        for name, value in stack.connections_env().items():
            patch.setenv(name, value)
        report = bootstrap(load_config({}), create_distribution=True)
    assert report.ok, report.lines()
    return report.distribution_id


@pytest.fixture
def deployment(
    stack: SandboxStack,
    airflow_home: Path,
    distribution_id: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Deployment]:
    """Make a deployment named after the test; its ledger table and buckets exist (bootstrap)."""
    from charter_pipeline.config import load_config

    def make(**overrides: Any) -> Deployment:
        name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
        made = Deployment(stack, airflow_home, name, distribution_id, overrides=overrides)
        for key, value in stack.connections_env().items():
            monkeypatch.setenv(key, value)
        report = bootstrap(load_config(made.variable))
        assert report.ok, report.lines()
        return made

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return make
