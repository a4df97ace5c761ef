"""The plugins folder as Airflow walks it in every process that loads plugins, each task process included."""

from __future__ import annotations

import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_only_the_plugin_file_is_loaded_and_reading_airflowignore_warns_nothing() -> None:
    """plugins/.airflowignore keeps the charter_pipeline package out of plugin loading; reading it must not put a
    DeprecationWarning in every task log (pathspec 1.x deprecates the GitWildMatchPattern Airflow 3.3 uses)."""
    from airflow.sdk._shared.module_loading import find_path_from_directory

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = sorted(find_path_from_directory(REPO / "plugins", ".airflowignore", "glob"))

    assert [Path(path).relative_to(REPO).as_posix() for path in found] == ["plugins/charter_bookings_plugin.py"]
    assert [str(w.message) for w in caught] == []
