"""The docs a clone carries hold what the code points at: every "CONTRACT.md section N" cited anywhere names a
section of docs/CONTRACT.md, every README anchor cited exists, and every file ARCHITECTURE.md's "Where to change
what" table names is there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.doc_links import anchors

REPO = Path(__file__).resolve().parents[1]
CONTRACT = REPO / "docs" / "CONTRACT.md"
ARCHITECTURE = REPO / "docs" / "ARCHITECTURE.md"
# Where citations live: the package, its DAGs, stand-ins, tests, benchmarks, tools and docs.
SCANNED = ("plugins", "dags", "sandbox", "tests", "benchmarks", "bin", "docs", "include", "config")
TEXT_SUFFIXES = {".py", ".md", ".j2", ".js", ".json", ".yaml", ".yml", ".cfg", ".toml", ".txt", ".sh", ""}
# "CONTRACT.md section 3", "CONTRACT.md sections 6, 7 and 8", "CONTRACT 4", "CONTRACT.md 11", across a line break
# inside a comment ("CONTRACT.md\n    # section 3").
CITATION = re.compile(r"CONTRACT(?:\.md)?(?:[\s#*/]+sections?)?[\s#*/]+(\d+(?:(?:\s*,\s*(?:and\s+)?|\s+and\s+)\d+)*)\b")
README_ANCHOR = re.compile(r"README\.md#([\w-]+)")


def cited_files() -> list[Path]:
    files = [REPO / "README.md", REPO / "Makefile"]
    for top in SCANNED:
        files += [
            path
            for path in (REPO / top).rglob("*")
            if path.is_file()
            and path.suffix in TEXT_SUFFIXES
            and not any(part.startswith(".") or part in ("__pycache__", "node_modules") for part in path.parts)
        ]
    return files


def contract_sections() -> dict[int, str]:
    text = CONTRACT.read_text(encoding="utf-8")
    return {int(number): title for number, title in re.findall(r"^## (\d+)\. (.+)$", text, re.MULTILINE)}


def citations() -> list[tuple[str, int]]:
    found = []
    for path in cited_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for match in CITATION.finditer(text):
            where = f"{path.relative_to(REPO)}:{text.count(chr(10), 0, match.start()) + 1}"
            found += [(where, int(number)) for number in re.findall(r"\d+", match.group(1))]
    return found


def test_the_contract_has_its_fifteen_sections_in_order() -> None:
    text = CONTRACT.read_text(encoding="utf-8")
    numbers = [int(n) for n in re.findall(r"^## (\d+)\. ", text, re.MULTILINE)]
    assert numbers == list(range(1, 16))
    assert "../shared" not in text


def test_every_contract_citation_names_a_section_of_docs_contract() -> None:
    sections = contract_sections()
    found = citations()
    # The code cites the contract well over a hundred times: finding few means the pattern broke, not the code.
    assert len(found) > 100, len(found)
    missing = [f"{where} cites section {number}" for where, number in found if number not in sections]
    assert missing == []


def test_the_citation_pattern_reads_every_form_the_code_uses() -> None:
    text = (
        "CONTRACT.md section 3; CONTRACT.md sections 6, 7 and 8; CONTRACT 4's example; CONTRACT.md 11;\n"
        "# (CONTRACT.md\n# section 12)"
    )
    numbers = [int(n) for match in CITATION.finditer(text) for n in re.findall(r"\d+", match.group(1))]
    assert numbers == [3, 6, 7, 8, 4, 11, 12]


def test_every_cited_readme_anchor_is_a_readme_heading() -> None:
    headings = anchors((REPO / "README.md").read_text(encoding="utf-8"))
    cited = []
    for path in [*cited_files(), CONTRACT]:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        cited += [(path.relative_to(REPO), anchor) for anchor in README_ANCHOR.findall(text)]
    assert cited, "docs/CONTRACT.md links the README's decisions"
    assert [f"{where} cites #{anchor}" for where, anchor in cited if anchor not in headings] == []


def where_to_change_what() -> list[tuple[str, str]]:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    table = text.split("## Where to change what", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and line.startswith("|") and not set(cells[1]) <= {"-", " "} and cells[1] != "file":
            rows.append((cells[0], cells[1]))
    return rows


def test_where_to_change_what_names_files_that_exist() -> None:
    rows = where_to_change_what()
    assert len(rows) >= 20, rows
    for what, cell in rows:
        paths = re.findall(r"`([^`]+)`", cell)
        assert paths, f"{what}: no file named"
        path = paths[0]
        assert (REPO / path).exists(), f"{what}: {path} does not exist"


@pytest.mark.parametrize("doc", [CONTRACT, ARCHITECTURE], ids=lambda p: p.name)
def test_links_between_the_docs_land_on_headings(doc: Path) -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        linked = (doc.parent / path) if path else doc
        assert linked.exists(), f"{doc.name} links {target}"
        if anchor:
            assert anchor in anchors(linked.read_text(encoding="utf-8")), f"{doc.name} links {target}"
