"""Parse a dags folder the way Airflow's DAG processor does, with every outside lookup fenced off.

Run as a script in a fresh interpreter (``python parse_probe.py DAGS_FOLDER REPORT_JSON``) so that nothing the
test process already imported or patched leaks in. Before Airflow parses anything, Variable and Connection
lookups, secrets backends and network connects are replaced by guards that record the attempt and raise.
The report is written as JSON: import errors, the facts of every DAG, and what the guards caught.
"""

from __future__ import annotations

import json
import socket
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

touched: list[str] = []
dags_folder = Path()


class ParseTimeAccess(RuntimeError):
    """Raised by a guard: DAG parsing reached for a Variable, a Connection, a secret or the network."""


def _guard(what: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        shown = ", ".join(repr(a) for a in args if isinstance(a, str | tuple))
        touched.append(f"{_dag_file()}: {what}({shown})")
        raise ParseTimeAccess(f"{what} called while parsing DAG files")

    return refuse


def _dag_file() -> str:
    """The DAG file (relative to the folder) whose code is on the stack, or "airflow" when none is."""
    for frame in reversed(traceback.extract_stack()):
        path = Path(frame.filename).resolve()
        if path.is_relative_to(dags_folder):
            return str(path.relative_to(dags_folder))
    return "airflow"


def _guard_sockets() -> None:
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    # Only internet sockets count: a UNIX socket (e.g. a local syslog) is not a network call.
    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _guard("socket.connect")(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _guard("socket.connect_ex")(address)
        return real_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guard("socket.getaddrinfo")
    socket.create_connection = _guard("socket.create_connection")


def _guard_airflow_lookups() -> None:
    import airflow.configuration
    import airflow.models.connection
    import airflow.models.variable
    import airflow.sdk.execution_time.context as sdk_context
    import airflow.sdk.execution_time.supervisor as supervisor

    # Every SDK route (Variable.get, Connection.get, BaseHook.get_connection, templates' var/conn accessors) ends in
    # these context functions, and every secrets backend is reached through the two loaders.
    for name in ("_get_variable", "_get_connection", "_async_get_connection", "_get_variable_keys"):
        if hasattr(sdk_context, name):
            setattr(sdk_context, name, _guard(f"airflow.sdk {name}"))
    supervisor.ensure_secrets_backend_loaded = _guard("secrets backend")  # type: ignore[assignment]
    airflow.configuration.ensure_secrets_loaded = _guard("secrets backend")  # type: ignore[assignment]
    airflow.models.variable.Variable.get = _guard("airflow.models.Variable.get")  # type: ignore[method-assign,assignment]
    airflow.models.connection.Connection.get_connection_from_secrets = _guard(  # type: ignore[method-assign,assignment]
        "airflow.models.Connection.get_connection_from_secrets"
    )


def _schedule(dag: Any) -> str | None:
    schedule = getattr(dag, "schedule", None)
    if schedule is None or isinstance(schedule, str):
        return schedule
    return _timetable_summary(dag.timetable)


def _timetable_summary(timetable: Any) -> str:
    expression = getattr(timetable, "_expression", None) or getattr(timetable, "expression", None)
    if isinstance(expression, str):
        return expression
    inner = getattr(timetable, "timetable", None)
    if inner is not None:
        # AssetOrTimeSchedule (CHARTER_EXPORTS_QUEUE_URL): the cron OR the watched asset, with its watchers' names.
        asset = timetable.asset_condition
        watchers = ",".join(w.name for w in getattr(asset, "watchers", []) or [])
        return f"{_timetable_summary(inner)} or asset {getattr(asset, 'name', asset)} watched by {watchers or 'none'}"
    return str(getattr(timetable, "summary", type(timetable).__name__))


def _facts(dag: Any) -> dict[str, Any]:
    tasks = list(dag.tasks)
    return {
        "dag_id": dag.dag_id,
        "fileloc": dag.fileloc,
        "tags": sorted(dag.tags or []),
        "owners": sorted({str(task.owner) for task in tasks}),
        "retries": sorted({int(task.retries or 0) for task in tasks}),
        "default_retries": (dag.default_args or {}).get("retries"),
        "doc_md": dag.doc_md or "",
        "schedule": _schedule(dag),
        "catchup": bool(dag.catchup),
        "max_active_runs": dag.max_active_runs,
        "task_ids": sorted(task.task_id for task in tasks),
    }


def main(folder: str, report_path: str) -> None:
    """Parse ``folder`` with the guards on and write the report to ``report_path``."""
    global dags_folder
    dags_folder = Path(folder).resolve()
    _guard_sockets()
    _guard_airflow_lookups()
    from airflow.dag_processing.dagbag import DagBag

    # safe_mode=False imports every .py file, not only those mentioning "dag" and "airflow".
    bag = DagBag(dag_folder=dags_folder, safe_mode=False)
    report = {
        "import_errors": {str(path): str(error) for path, error in bag.import_errors.items()},
        "dags": {dag_id: _facts(dag) for dag_id, dag in bag.dags.items()},
        "touched": touched,
    }
    Path(report_path).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
