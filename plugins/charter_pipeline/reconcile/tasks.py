"""The entry points the tasks of ``charter_reconcile`` call, and the run's table as the operator reads it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from charter_pipeline.alerts import AlertDelivery
from charter_pipeline.reconcile.check import OUTCOMES, Outcome, Reconcile
from charter_pipeline.task_runtime import Hooks, airflow_errors, pipeline_config, run_now

log = logging.getLogger(__name__)


def check_task(context: Mapping[str, Any]) -> dict[str, Any]:
    """``check_bookings``: compare, repair the scrub and the page, alert the rest; returns the report."""
    config = pipeline_config()
    now = run_now(context)
    log.info("Checking every published charter not ended at %s.", now.isoformat())
    with airflow_errors():
        return Reconcile(config, now, Hooks.from_config(config)).run()


def summary_task(report: Mapping[str, Any] | None) -> dict[str, Any]:
    """``drift_summary``: log the table, keep it as the last drift report, and fail the run (red in the UI) when
    a booking could not be checked or an alert was not delivered (the next run tries again)."""
    from airflow.sdk.exceptions import AirflowFailException

    if report is None:
        raise AirflowFailException("check_bookings did not finish: nothing was compared (see its log).")
    log.info("%s", drift_table(report))
    config = pipeline_config()
    Hooks.from_config(config).drift_reports.save_drift_report(report)
    errors = report["counts"].get(Outcome.ERROR, 0)
    undelivered = [row["booking_id"] for row in report["bookings"] if row.get("delivery") == AlertDelivery.FAILED]
    if errors or undelivered:
        raise AirflowFailException(
            f"{errors} booking(s) could not be checked, {len(undelivered)} drift alert(s) not delivered; "
            "the next run tries again. See the table above."
        )
    return dict(report)


def drift_table(report: Mapping[str, Any]) -> str:
    """The drift report as the operator reads it in the task log: counts, then one block per booking."""
    counts = report["counts"]
    lines = [
        f"Charter drift report at {report['checked_at']}",
        "",
        "  " + "  ".join(f"{name}: {counts.get(name, 0)}" for name in (*OUTCOMES, "ended")),
    ]
    if report["bookings"]:
        lines += ["", f"  {'booking':<16} {'guest':<12} {'date':<10}  {'outcome':<9} details"]
    for row in report["bookings"]:
        first = row["note"] or (f"alert {row['alert']}" if row["outcome"] == Outcome.DRIFT else "")
        lines.append(
            f"  {row['booking_id'][:16]:<16} {row['guest'][:12]:<12} {row['charter_date']:<10}  "
            f"{row['outcome']:<9} {first}".rstrip()
        )
        lines += [f"{'':>52}differs: {line}" for line in row["differences"]]
        lines += [f"{'':>52}repaired: {line}" for line in row["repairs"]]
    return "\n".join(lines)
