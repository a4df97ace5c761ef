"""``make bench``: what the operator pays for, each number a ratio against a baseline measured in the same run.

The machines this runs on are shared and noisy, so no benchmark trusts an absolute time on its own: each one times
the pipeline and a baseline doing the least comparable work (a trivial DAG, plain ``csv.reader``, the same calls
made without Airflow) side by side, interleaved, several times, and reports the ratio of the medians.

    python -m benchmarks            # every benchmark, the table, then docs/PERFORMANCE.md
    python -m benchmarks --quick    # tiny sizes, one repetition: checks the machinery, not the numbers

Modules: ``parse_time`` (DAG parsing), ``idle_poll`` (a poll with nothing new), ``intake`` (100,000-row export),
``end_to_end`` (20 bookings through ``airflow dags test``). ``report`` holds the rows and writes the page,
``airflow_home`` runs Airflow in a fresh home, ``deployment`` starts a sandbox stack with what bootstrap creates,
``bookings`` generates the exports they read.
"""

from __future__ import annotations
