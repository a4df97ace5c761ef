"""The only two repairs the drift report makes by itself (CONTRACT.md section 12): neither can surprise a person.

- An SCC item that holds money again is scrubbed again (the same scrub as publishing: crew never see money).
- A guest page missing from the bucket, or replaced, is put back as it was published, with an invalidation whose
  CallerReference carries the repair, so CloudFront invalidates again for content it has seen before.

Nothing here sends anything to JADA or SCC's API: an edited or deleted entry or event is a person's doing, and
only a person may decide what to do about it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from charter_pipeline.config import PipelineConfig
from charter_pipeline.reconcile.drift import GUEST_PAGE, Difference, scrub_difference

if TYPE_CHECKING:
    from charter_pipeline.booking import Booking
    from charter_pipeline.ledger import LedgerRecord
    from charter_pipeline.task_runtime import Hooks

log = logging.getLogger(__name__)


def repair_stamp(now: datetime) -> str:
    """The run's instant as it goes into a repair's CallerReference: stable across the run's own retries (its
    "now" is the logical date), new for every later run."""
    return now.strftime("%Y%m%dT%H%M%SZ")


class Repairs:
    """The repairs of one reconcile run, on the task's hooks."""

    def __init__(self, config: PipelineConfig, now: datetime, hooks: Hooks) -> None:
        self.config = config
        self.stamp = repair_stamp(now)
        self.hooks = hooks

    def scrub_again(self, event_id: str) -> Difference | None:
        """Scrub the SCC item; the difference it repaired, or None when it was clean (one GetItem, then).
        Raises SccEventNotFound when SCC's table has no item for the event (reported, never created)."""
        report = self.hooks.scc_table.scrub_event(event_id)
        return scrub_difference(report.removed_attributes, report.removed_lines)

    def put_page_back(self, record: LedgerRecord, booking: Booking, found: Difference) -> Difference:
        """Upload the page as last published and invalidate it under this repair's reference.

        The page is rebuilt from the snapshot; when it no longer hashes to the page last published (templates or
        settings changed since), it is not uploaded: that would publish something new under the drift report's
        name. The difference is then reported for a person instead.
        """
        from charter_pipeline.guest_page import page_hash, render_cancelled_page, render_guest_page

        render = render_guest_page if booking.is_charter else render_cancelled_page
        html = render(booking, self.config, record.session_id)
        digest = page_hash(html)
        if digest != record.page_hash:
            return Difference(
                found.place,
                f"{found.what}; not put back: the page cannot be rebuilt as published "
                "(templates or settings changed since)",
            )
        self.hooks.portal.upload_page(record.session_id, html, digest)
        invalidation_id = self.hooks.portal.invalidate_page(record.session_id, digest, repair=self.stamp) or ""
        if invalidation_id:
            self.hooks.records.record_artifacts(record.booking_id, invalidation_id=invalidation_id)
        done = f"uploaded again, invalidated ({invalidation_id})" if invalidation_id else "uploaded again"
        if not self.config.cloudfront_distribution_id:
            done += "; no invalidation: cloudfront_distribution_id is empty"
        log.info("%s %s: %s", GUEST_PAGE, record.session_id, done)
        return Difference(found.place, found.what, repair=done)
