"""``python -m benchmarks --quick`` for the two benchmarks that drive ``airflow dags test`` against a sandbox stack.

Tiny sizes, one repetition: this checks that the machinery runs and reports every row, never how fast it was.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def test_quick_run_of_the_airflow_benchmarks_writes_every_row(tmp_path: Path) -> None:
    page = tmp_path / "PERFORMANCE.md"
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "idle_poll", "end_to_end", "--output", str(page)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = page.read_text()
    assert "**Quick run**" in text
    for name in (
        "no-change poll: outside calls, N=10 -> N=60",
        "no-change poll: dags test time, N=60 vs one-task DAG",
        "end to end: 2 bookings in one dags test, per booking",
        "end to end: orchestration overhead (dags test vs direct)",
    ):
        assert f"| {name} |" in text, name
        assert name in done.stdout
    assert "## 2. A poll with nothing new" in text
    assert "## 4. End to end" in text
    assert re.search(r"outside call\(s\) per run \((\w+ \w+ x\d+)(, \w+ \w+ x\d+)*\)", text), "calls by operation"
    assert "did not run" not in text
    for secret in ("sandbox-dashboard-token", "sandbox-scc-service-key"):
        assert secret not in text
        assert secret not in done.stdout
