"""The entry points the tasks of ``charter_booking_pipeline`` call: plain data in, plain JSON-safe, secret-free
data out for XCom."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from charter_pipeline.booking import BookingError
from charter_pipeline.publishing.booking_steps import BookingSteps
from charter_pipeline.publishing.poll import ManualOutcome, Poll
from charter_pipeline.publishing.summary import headline, manual_line, summarize, summary_table
from charter_pipeline.task_runtime import Hooks, airflow_errors, pipeline_config
from charter_pipeline.trigger_form import form_title

log = logging.getLogger(__name__)

# The context key show_on_run sets (the DAG's RUN_NOTE template reads it); Airflow's column holds 250 characters.
NOTE_KEY = "charter_note"
NOTE_LIMIT = 250


def refuse_manual_booking(error: BookingError, *, from_form: bool = False) -> str:
    """The error line of a refused manual trigger: names the field, as CONTRACT.md section 1 asks; for a booking
    typed into the trigger form, by the field's title on the form ("Gross (USD): ...")."""
    field = form_title(error.field) if from_form else error.field
    return f"Manual booking refused: {field}: {error.message}"


def collect_task(params: Mapping[str, Any], triggered_at: datetime | None = None) -> dict[str, Any]:
    """``collect_bookings``: a manual booking (conf ``booking`` or the trigger form's fields, validated before any
    outside call) or a poll of the exports. ``triggered_at`` is the run's own time (``dag_run.run_after``): a manual
    booking counts as received then."""
    from datetime import UTC

    from airflow.sdk.exceptions import AirflowFailException

    from charter_pipeline.trigger_form import manual_booking as booking_of

    now = datetime.now(UTC)
    config = pipeline_config()
    try:
        manual_booking = booking_of(params)
        if manual_booking is not None:
            from charter_pipeline.booking import parse_booking

            parse_booking(manual_booking, config.tz)
    except BookingError as exc:
        refusal = refuse_manual_booking(exc, from_form=params.get("booking") is None)
        show_on_run(refusal)
        raise AirflowFailException(refusal) from None
    if manual_booking is not None:
        with airflow_errors():
            intake = Poll(config, now, Hooks.from_config(config)).manual(manual_booking, triggered_at)
        if intake.manual:
            log.info("Manual booking %s: %s", intake.manual["booking_id"], intake.manual["detail"])
            show_on_run(f"Manual booking {intake.manual['booking_id']}: {intake.manual['detail']}")
    else:
        with airflow_errors():
            intake = Poll(config, now, Hooks.from_config(config)).scheduled()
    log.info(
        "%d booking(s) need work this run: %s",
        len(intake.work),
        ", ".join(f"{i['label']} ({i['action']})" for i in intake.work) or "none",
    )
    return intake.as_xcom()


# The DAG's step names (``booking_task(item, step)``) and the BookingSteps method each one runs.
BOOKING_STEPS: dict[str, Callable[..., Any]] = {
    "financials": BookingSteps.financials,
    "calendar": BookingSteps.calendar,
    "scc_event": BookingSteps.scc_event,
    "scrub": BookingSteps.scrub,
    "guest_page": BookingSteps.guest_page,
    "invalidation": BookingSteps.invalidation,
}


def booking_task(item: Mapping[str, Any], step: str) -> Any:
    """Run one step of a booking's group (on the ledger's newest snapshot, not on upstream XComs)."""
    run = BOOKING_STEPS.get(step)
    if run is None:
        raise ValueError(f"unknown step {step!r}")
    config = pipeline_config()
    steps = BookingSteps(config, item, Hooks.from_config(config))
    with airflow_errors():
        return run(steps)


def summary_task(intake: Mapping[str, Any] | None, work: list[dict[str, Any]] | None) -> dict[str, Any]:
    """``run_summary``: log the table, and fail the run (red in the UI) if the intake or any booking failed."""
    from airflow.sdk.exceptions import AirflowFailException

    from charter_pipeline.alerts import AlertDelivery
    from charter_pipeline.publishing.desk_alerts import desk_alerts_for, tell_the_desk

    config = pipeline_config()
    hooks = Hooks.from_config(config)
    summary = summarize(config, intake, work, hooks)
    log.info("%s", summary_table(summary))
    # CONTRACT.md section 15: once the outcomes are settled (every booking's tries are spent by now), the desk
    # hears about the bookings left stuck and those a run completed after a publish_failed.
    stuck, completed = desk_alerts_for(summary, work or [])
    summary["desk_alerts"] = [note.to_json() for note in tell_the_desk(stuck, completed, hooks)]
    if intake is None:
        show_on_run("collect_bookings did not finish: nothing was processed (its line says why)")
        raise AirflowFailException("collect_bookings did not finish: nothing was processed (see its log).")
    show_on_run(headline(summary))
    failed = summary["counts"]["failed"]
    if failed:
        raise AirflowFailException(f"{failed} booking(s) failed; the next poll retries them. See the table above.")
    undelivered = [n["booking_id"] for n in summary["desk_alerts"] if not AlertDelivery(n["delivery"]).handled]
    if undelivered:
        raise AirflowFailException(
            f"Every booking is done, but the desk's alert for {', '.join(undelivered)} was not delivered (see above)."
        )
    manual = summary.get("manual")
    if manual and ManualOutcome(manual["outcome"]) is ManualOutcome.SUPERSEDED:
        # The desk's correction was not applied: a green run would hide it (README Decisions, "Manual bookings that
        # change nothing").
        raise AirflowFailException(manual_line(summary))
    return summary


def show_on_run(note: str) -> None:
    """Put one line where the run's page shows it without opening a log (README Decisions, "Where a run says it").

    The Task SDK cannot set a run's note, and only the core REST API (which a task has no credentials for) can.
    What a task can set is its own rendered map index (the DAG gives ``collect_bookings`` and ``run_summary`` a
    ``map_index_template`` reading ``NOTE_KEY``), which the Execution API stores whether the task succeeds or
    fails, under ``airflow dags test`` and a scheduler alike. The run's "Task Instances" tab shows it beside the
    task, and ``GET /api/v2/.../taskInstances`` returns it as ``rendered_map_index`` (bin/trigger_booking.py
    prints it)."""
    from airflow.sdk import get_current_context

    line = " ".join(note.split())
    get_current_context()[NOTE_KEY] = line if len(line) <= NOTE_LIMIT else line[: NOTE_LIMIT - 3] + "..."  # type: ignore[literal-required]
