"""README.md stands alone in a clone: no link leaves the repository, and it carries the contract's facts an operator
needs (the DAG, connections, Variable keys, export columns, REST paths, the rerun command)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from charter_pipeline.booking import COLUMNS
from charter_pipeline.config import DEFAULTS
from tests.doc_links import anchors

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
DOCS = [REPO / "README.md", REPO / "docs" / "ARCHITECTURE.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_reference_leaves_the_repository(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    assert "../shared" not in text
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        if path:
            assert (doc.parent / path).exists(), f"{doc.name} links {target}, which a clone does not have"
        else:
            assert anchor in anchors(text), f"{doc.name} links #{anchor}, which is no heading"


def test_the_readme_carries_the_contract_an_operator_needs() -> None:
    for name in ("charter_booking_pipeline", "aws_default", "jada_dashboard", "scc_api", "CHARTER_POLL_SCHEDULE"):
        assert f"`{name}`" in README, name
    for key in DEFAULTS:
        assert f"| `{key}` |" in README, f"Variable key {key} is not in the README's table"
    for column in COLUMNS.values():
        assert column in README, f"export column {column}"
    for path in ("POST /auth/token", "/dags/charter_booking_pipeline/dagRuns", "clearTaskInstances", "/logs/"):
        assert path in README, path
    assert "make trigger BOOKING=" in README
    assert "bin/trigger_booking.py" in README
