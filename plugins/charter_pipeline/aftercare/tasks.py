"""The entry points the tasks of ``charter_aftercare`` call: plain data in, JSON-safe, secret-free data out.

Each task goes through every booking it is due for, one at a time; a booking that fails (SCC unreachable for its
event, the alert receiver down) is noted in the result and the others go on. The run summary then says what
happened to each and fails the run when any booking failed; the next run (hourly) picks the failed ones up again,
because nothing about them was recorded as done.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from charter_pipeline.task_runtime import Hooks, describe, pipeline_config, run_now

log = logging.getLogger(__name__)


def crew_answers_task(context: Mapping[str, Any]) -> dict[str, Any]:
    """``check_crew_answers``: read the crew's answers of every charter starting within ``crew_confirm_hours``
    and send the operations desk the alert each new situation calls for."""
    from charter_pipeline.aftercare.crew_answers import (
        CrewResponse,
        answers_from_event,
        answers_json,
        crew_alert,
        needs_crew_check,
    )
    from charter_pipeline.alerts import AlertKind

    now = run_now(context)
    config = pipeline_config()
    hooks = Hooks.from_config(config)
    marks = hooks.aftercare
    due = [r for r in hooks.records.published_records() if needs_crew_check(r, now, config.crew_confirm_hours)]
    due.sort(key=lambda r: (r.booking.start if r.booking else now, r.booking_id))
    log.info("Now is %s: %d charter(s) start within %d hours.", now.isoformat(), len(due), config.crew_confirm_hours)
    rows: list[dict[str, str]] = []
    for record in due:
        booking = record.booking
        assert booking is not None
        row = {"booking_id": record.booking_id, "starts": booking.start.astimezone(config.tz).isoformat()}
        try:
            answers = answers_from_event(hooks.scc.get_event(record.scc_event_id))
            marks.record_crew_answers(record.booking_id, answers_json(answers))
            order = (CrewResponse.ACCEPTED, CrewResponse.PENDING, CrewResponse.DECLINED)
            counts = {r: sum(a.response == r for a in answers) for r in order}
            row["answers"] = ", ".join(f"{n} {r}" for r, n in counts.items() if n) or "no crew"
            alert = crew_alert(
                record, answers, config.tz, delivered=record.alerts_sent, open_alert=record.crew_alert_open
            )
            if alert is None:
                row["alert"] = "none needed" if not record.crew_alert_open else "already sent"
            else:
                how = hooks.alerts.send(alert)
                still_open = "" if alert.kind is AlertKind.CREW_ALL_CLEAR else alert.alert_id
                marks.record_alert_sent(record.booking_id, alert.alert_id, crew_alert_open=still_open)
                row["alert"] = f"{alert.kind} {how} ({alert.alert_id})"
        # One booking's failure must not stop the others (CONTRACT.md section 8); the summary reports it.
        except Exception as exc:
            row["error"] = describe(exc)
            log.warning("%s: crew answers not checked: %s", booking.label, row["error"])
        else:
            log.info("%s: crew %s; alert: %s", booking.label, row["answers"], row["alert"])
        rows.append(row)
    return {"now": now.isoformat(), "checked": rows}


def retire_pages_task(context: Mapping[str, Any]) -> dict[str, Any]:
    """``retire_guest_pages``: replace every guest page whose charter ended more than
    ``guest_page_retention_days`` ago with the neutral notice, and invalidate it once."""
    from charter_pipeline.aftercare.retirement import due_for_retirement
    from charter_pipeline.guest_page import page_hash, render_retired_page

    now = run_now(context)
    config = pipeline_config()
    hooks = Hooks.from_config(config)
    marks, portal = hooks.aftercare, hooks.portal
    notice = render_retired_page(config)
    digest = page_hash(notice)
    due = [
        r
        for r in hooks.records.published_records(include_retired=True)
        if due_for_retirement(r, now, config.guest_page_retention_days)
    ]
    log.info(
        "Now is %s: %d guest page(s) ended more than %d day(s) ago.",
        now.isoformat(),
        len(due),
        config.guest_page_retention_days,
    )
    rows: list[dict[str, str]] = []
    for record in sorted(due, key=lambda r: r.booking_id):
        row = {"booking_id": record.booking_id, "guest_url": config.guest_url(record.session_id)}
        try:
            # Marked first: from here on no export publishes this page again, even if the upload below fails.
            marks.record_page_retiring(record.booking_id, digest)
            portal.upload_page(record.session_id, notice, digest)
            # Same session and same notice, same CallerReference: a retry after a lost answer is one invalidation.
            invalidation_id = portal.invalidate_page(record.session_id, digest) or ""
            marks.record_page_retired(record.booking_id, invalidation_id)
            row["result"] = f"retired, invalidation {invalidation_id}" if invalidation_id else "retired (no CDN)"
        except Exception as exc:  # one page's failure must not stop the others
            row["error"] = describe(exc)
            log.warning("%s: guest page not retired: %s", record.booking_id, row["error"])
        else:
            log.info("%s: guest page %s %s", record.booking_id, row["guest_url"], row["result"])
        rows.append(row)
    return {"now": now.isoformat(), "retired": rows}


def summary_table(crew: Mapping[str, Any] | None, pages: Mapping[str, Any] | None) -> str:
    """The run summary as the desk reads it in the task log."""
    lines = ["Charter aftercare run summary", ""]
    if crew is None:
        lines.append("  crew answers: not checked (check_crew_answers failed; see its log)")
    else:
        lines.append(f"  crew answers checked: {len(crew['checked'])} charter(s) (now = {crew['now']})")
        for row in crew["checked"]:
            tail = f"FAILED: {row['error']}" if "error" in row else f"{row['answers']}; alert: {row['alert']}"
            lines.append(f"    {row['booking_id'][:16]:<16} {row['starts'][:16]:<16}  {tail}")
    if pages is None:
        lines.append("  guest pages: not retired (retire_guest_pages failed; see its log)")
    else:
        lines.append(f"  guest pages due for retirement: {len(pages['retired'])}")
        for row in pages["retired"]:
            tail = f"FAILED: {row['error']}" if "error" in row else row["result"]
            lines.append(f"    {row['booking_id'][:16]:<16} {tail}")
    return "\n".join(lines)


def summary_task(crew: Mapping[str, Any] | None, pages: Mapping[str, Any] | None) -> dict[str, Any]:
    """``run_summary``: log the table; fail the run (red in the UI) when a task or any booking failed, after
    everything else was done. The next run retries what failed."""
    from airflow.sdk.exceptions import AirflowFailException

    log.info("%s", summary_table(crew, pages))
    failed = [row["booking_id"] for row in (crew or {}).get("checked", []) if "error" in row]
    unretired = [row["booking_id"] for row in (pages or {}).get("retired", []) if "error" in row]
    if crew is None or pages is None:
        raise AirflowFailException("An aftercare task did not finish; see the table above and its log.")
    if failed or unretired:
        parts = [f"crew answers of {', '.join(failed)}"] * bool(failed)
        parts += [f"guest pages of {', '.join(unretired)}"] * bool(unretired)
        raise AirflowFailException(f"Not done this run: {'; '.join(parts)}. The next run tries them again.")
    return {"crew_checked": len(crew["checked"]), "pages_retired": len(pages["retired"]), "now": crew["now"]}
