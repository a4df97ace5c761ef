"""Fixtures for whole-DAG runs: one migrated AIRFLOW_HOME per session, one sandbox stack per module, and a fresh
deployment (own exports prefix and ledger table) per test."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.stack import SandboxStack
from tests.e2e.harness import Deployment, bootstrap_on, migrated_home


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_home(tmp_path_factory.mktemp("airflow-home"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxStack]:
    with SandboxStack(tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture(scope="module")
def distribution_id(stack: SandboxStack) -> str:
    return bootstrap_on(stack, {}, create_distribution=True)


@pytest.fixture
def deployment(
    stack: SandboxStack,
    airflow_home: Path,
    distribution_id: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Deployment]:
    """Make a deployment named after the test; its ledger table and buckets exist (bootstrap). The test keeps the
    stack's connections in its environment, for anything it calls in-process."""

    def make(**overrides: Any) -> Deployment:
        name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
        made = Deployment(stack, airflow_home, name, distribution_id, overrides=overrides)
        for key, value in stack.connections_env().items():
            monkeypatch.setenv(key, value)
        bootstrap_on(stack, made.variable)
        return made

    return make
