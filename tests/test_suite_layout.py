"""The suite's own shape: shared fixtures live in conftest.py files and shared helpers in helper modules, so no
test module imports another test module or a conftest, and the booking factory is defined once."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
IMPORTS_A_TEST_MODULE = re.compile(r"^\s*from tests\.(?:[\w.]+\.)?(?:test_\w+|conftest) import", re.MULTILINE)


def test_no_test_module_imports_another_test_module_or_a_conftest() -> None:
    offenders = [
        str(path.relative_to(TESTS))
        for path in TESTS.rglob("*.py")
        if IMPORTS_A_TEST_MODULE.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_booking_factory_is_defined_once() -> None:
    defined = [
        str(path.relative_to(TESTS))
        for path in TESTS.rglob("*.py")
        if re.search(r"^def make_booking\(", path.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert defined == ["factories.py"]


def test_the_pattern_sees_such_an_import() -> None:
    assert IMPORTS_A_TEST_MODULE.search("from tests.hooks.test_ledger_hook import record")
    assert IMPORTS_A_TEST_MODULE.search("    from tests.deployment.conftest import today")
    assert not IMPORTS_A_TEST_MODULE.search("from tests.hooks.stand_ins import unique")


def test_no_two_test_modules_share_a_file_name() -> None:
    # tests/ has no __init__.py files, so pytest imports each test module by its bare name: a second
    # tests/x/test_a.py beside tests/y/test_a.py fails the whole collection ("import file mismatch").
    names: dict[str, list[str]] = {}
    for path in TESTS.rglob("test_*.py"):
        names.setdefault(path.name, []).append(str(path.relative_to(TESTS)))
    assert {name: paths for name, paths in names.items() if len(paths) > 1} == {}
