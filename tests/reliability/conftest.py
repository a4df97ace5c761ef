"""Fixtures for the reliability and security suite (CONTRACT.md section 8).

One sandbox stack for the whole session, built with distinctive secrets so that every surface can be scanned for
them, one private AIRFLOW_HOME (its logs and metadata database are scanned too), and the report that becomes
docs/RELIABILITY.md when the session ends. The lead's e2e harness drives the runs; nothing of it is changed here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox.stack import SandboxStack
from tests.e2e.harness import REPO, bootstrap_on, migrated_home
from tests.reliability.evidence import REPORT_ENV, SECRETS, ReliabilityDeployment, Report, Saboteur


@pytest.fixture(scope="session")
def reliability_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated AIRFLOW_HOME used only by this suite, so the secret scan covers exactly our runs."""
    return migrated_home(tmp_path_factory.mktemp("reliability-airflow-home"))


@pytest.fixture(scope="session")
def reliability_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxStack]:
    """The stand-ins, with our own distinctive token, service key and AWS keys."""
    with SandboxStack(tmp_path_factory.mktemp("reliability-stack"), **SECRETS) as running:
        yield running


@pytest.fixture(scope="session")
def saboteur(reliability_stack: SandboxStack) -> Iterator[Saboteur]:
    """Per-booking misbehaviour of the stand-ins (the fault book matches calls, not bookings)."""
    with Saboteur(reliability_stack) as active:
        yield active


@pytest.fixture(scope="session")
def reliability_distribution(reliability_stack: SandboxStack) -> str:
    return bootstrap_on(reliability_stack, {}, create_distribution=True)


@pytest.fixture
def reliability_deployment(
    reliability_stack: SandboxStack,
    reliability_home: Path,
    reliability_distribution: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., ReliabilityDeployment]:
    """Make a deployment (own exports prefix and ledger table, bootstrapped) named after the test."""
    made = 0

    def make(**overrides: object) -> ReliabilityDeployment:
        nonlocal made
        made += 1
        name = "rel-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:30] + f"-{made}"
        deployment = ReliabilityDeployment(
            reliability_stack, reliability_home, name, reliability_distribution, overrides=dict(overrides)
        )
        deployment.console_dir = reliability_home.parent / "consoles"
        for key, value in reliability_stack.connections_env().items():
            monkeypatch.setenv(key, value)
        bootstrap_on(reliability_stack, deployment.variable)
        return deployment

    return make


@pytest.fixture(scope="session")
def reliability_report() -> Iterator[Report]:
    """Rows of what was tried and what was seen; written to docs/RELIABILITY.md when the session ends (or to the
    file ``CHARTER_RELIABILITY_REPORT`` names)."""
    report = Report()
    yield report
    chosen = os.environ.get(REPORT_ENV)
    # A partial session (one file, -k) must not overwrite the committed report with part of the story.
    if (chosen and report.checks) or report.complete:
        target = Path(chosen) if chosen else REPO / "docs" / "RELIABILITY.md"
        previous = target.read_text(encoding="utf-8") if target.exists() else ""
        target.write_text(report.markdown(previous), encoding="utf-8")
