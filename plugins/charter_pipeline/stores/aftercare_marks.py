"""Aftercare's own attributes on a booking's item (CONTRACT.md section 11), each written by one method with an
atomic update: ``alerts_sent`` (a string set), ``crew_alert_open``, ``stuck_alert_open`` (the desk's open
publish_failed, CONTRACT.md section 15), ``crew_answers``/``crew_checked_at`` and the
guest page's retirement (``retired_hash``, ``retired_at``, ``retired_invalidation_id``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from charter_pipeline.stores.booking_records import now_iso

if TYPE_CHECKING:
    from charter_pipeline.hooks.ledger import LedgerHook


class AftercareMarks:
    """What aftercare and the drift report note on a booking: alerts delivered, crew answers, retirement."""

    def __init__(self, hook: LedgerHook) -> None:
        self.hook = hook

    def record_alert_sent(
        self,
        booking_id: str,
        alert_id: str,
        *,
        crew_alert_open: str | None = None,
        stuck_alert_open: str | None = None,
    ) -> None:
        """Add ``alert_id`` to the booking's delivered alerts (a string set: parallel writers never lose one), and
        when given, set the crew alert awaiting an all-clear, or the publish_failed alert awaiting its
        publish_recovered (CONTRACT.md section 15; "" once it is cleared), in the same update."""
        values: dict[str, Any] = {} if crew_alert_open is None else {"crew_alert_open": crew_alert_open}
        if stuck_alert_open is not None:
            values["stuck_alert_open"] = stuck_alert_open
        self.hook.update(booking_id, values, add={"alerts_sent": {alert_id}})

    def record_crew_answers(self, booking_id: str, answers_json: str) -> None:
        """The crew's answers as SCC last gave them (JSON, no e-mail addresses), with the time they were read."""
        self.hook.update(booking_id, {"crew_answers": answers_json, "crew_checked_at": now_iso()})

    def record_page_retiring(self, booking_id: str, notice_hash: str) -> None:
        """Mark the guest page as being retired, before the notice is uploaded: from here on nothing publishes
        the page again, even if the upload or the invalidation fails and is retried by a later run."""
        self.hook.update(booking_id, {"retired_hash": notice_hash})

    def record_page_retired(self, booking_id: str, invalidation_id: str) -> None:
        """The neutral notice is uploaded and invalidated: the retirement is complete."""
        values = {"retired_at": now_iso(), "retired_invalidation_id": invalidation_id}
        self.hook.update(booking_id, {k: v for k, v in values.items() if v})
