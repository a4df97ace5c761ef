"""The Makefile's promises: `make` lists every target, `install` is a no-op until a lock changes, and the
lint/typecheck targets only name folders a checkout has. Recipes are dry-run (`make -n`) in a scratch copy.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAKEFILE = REPO / "Makefile"


def _make(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(folder), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A scratch copy of the Makefile and the locks, with an installed-looking .venv (stamp newer than the locks)."""
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / ".venv").mkdir()
    stamp = tmp_path / ".venv" / ".installed"
    stamp.touch()
    os.utime(stamp, (1_500_000_000, 1_500_000_000))  # 2017
    for lock in ("requirements.txt", "requirements-dev.txt"):
        os.utime(tmp_path / lock, (1_000_000_000, 1_000_000_000))  # 2001
    return tmp_path


def test_make_alone_lists_every_target() -> None:
    phony = re.search(r"^\.PHONY:(.*)$", MAKEFILE.read_text(), re.MULTILINE)
    assert phony
    targets = set(phony.group(1).split())

    listed = _make(REPO)

    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert {line.split()[1] for line in lines} == targets
    assert all(len(line.split(maxsplit=2)) == 3 for line in lines), "every target needs a one-line description"


def test_install_does_nothing_while_the_locks_are_unchanged(checkout: Path) -> None:
    assert _make(checkout, "-q", "install").returncode == 0


def test_a_changed_lock_reinstalls_with_the_pinned_uv(checkout: Path) -> None:
    (checkout / "requirements-dev.txt").touch()

    assert _make(checkout, "-q", "install").returncode != 0
    plan = _make(checkout, "-n", "install").stdout
    assert """.venv/bin/python -m pip install --quiet "$(grep -m1 '^uv==' requirements-dev.txt)\"""" in plan
    assert ".venv/bin/uv pip sync --quiet --python .venv/bin/python requirements-dev.txt" in plan
    assert len(re.findall(r"^uv==\S+$", (REPO / "requirements-dev.txt").read_text(), re.MULTILINE)) == 1


def test_lint_and_typecheck_name_only_folders_that_exist(checkout: Path) -> None:
    (checkout / "plugins" / "charter_pipeline").mkdir(parents=True)
    (checkout / "tests").mkdir()

    lint = _make(checkout, "-n", "lint").stdout
    typecheck = _make(checkout, "-n", "typecheck").stdout

    assert re.findall(r"\.venv/bin/ruff (check|format --check) ([\w ]+?) \|\|", lint) == [
        ("check", "plugins tests"),
        ("format --check", "plugins tests"),
    ]
    assert typecheck.strip() == ".venv/bin/mypy plugins/charter_pipeline"


def test_ci_runs_make_test_from_the_repo_root() -> None:
    script = REPO / ".ci" / "run"

    assert os.access(script, os.X_OK)
    lines = script.read_text().splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in lines
    assert lines[-1] == "make test"
