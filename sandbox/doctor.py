"""``make doctor``: the connection doctor (charter_pipeline.doctor) against the Airflow this shell means.

A shell that names an Airflow (``AIRFLOW_HOME``, its database, or ``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*``) gets
exactly that: a deployment is checked as it is configured. Otherwise, while ``make run`` or ``make run-celery`` is
running, the doctor checks that stack: its metadata database (the connections and the Variable as the UI shows
and edits them) and its exports queue, found through the state file the stack writes (sandbox/run.py). With
neither, one line says so and nothing is created (Airflow would make an empty ``~/airflow``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sandbox.bootstrap import put_plugins_on_path
from sandbox.run import STATE_FILE
from sandbox.topology import read_state_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.doctor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-file", type=Path, default=STATE_FILE, help="where the running local stack says it is")
    args = parser.parse_args(argv)
    put_plugins_on_path()
    from charter_pipeline import doctor

    if not doctor.airflow_configured(os.environ):
        state = read_state_file(args.state_file)
        if state is None:
            print(
                "make doctor: nothing to check: no local stack is running (start one with `make run`), and no "
                "Airflow is configured in this shell (set AIRFLOW_HOME, or AIRFLOW_CONN_* and "
                "AIRFLOW_VAR_CHARTER_PIPELINE)"
            )
            return 1
        os.environ.update(state.get("env") or {})
        where = f"{state.get('executor')} executor, {state.get('api_url')}/"
        print(f"make doctor: checking the running local stack ({where})")
    return doctor.main()


if __name__ == "__main__":
    sys.exit(main())
