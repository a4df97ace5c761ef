"""A sandbox stack per test module, reset before each test that asks for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.stack import SandboxStack


@pytest.fixture(scope="module")
def sandbox_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxStack]:
    with SandboxStack(tmp_path_factory.mktemp("sandbox-stack")) as stack:
        yield stack
        # moto keeps its AWS data per process; leave none behind for other modules' moto servers.
        stack.moto.reset()


@pytest.fixture
def stack(sandbox_stack: SandboxStack) -> SandboxStack:
    """The module's stack with no data, faults or logs left from an earlier test (AWS data stays)."""
    sandbox_stack.reset()
    outbox: Path | None = sandbox_stack.scc.outbox_path
    if outbox is not None:
        outbox.unlink(missing_ok=True)
    return sandbox_stack
