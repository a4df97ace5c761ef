"""Retired guest pages: which pages are due, and the neutral notice that replaces them (CONTRACT.md section 11).

Pure. A guest page holds a guest's first name, boat and date at a public address; once the charter ended more
than ``guest_page_retention_days`` ago, the page (or its cancellation notice) gives way to a notice that holds
none of the booking's details, at the same key (``guest_page.render_retired_page``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from charter_pipeline.ledger import LedgerRecord


def due_for_retirement(record: LedgerRecord, now: datetime, retention_days: int) -> bool:
    """The booking has a guest page not yet retired (or retired halfway: notice uploaded, not invalidated), and
    its charter ended more than ``retention_days`` days before ``now``."""
    booking = record.booking
    if booking is None or not record.page_hash or not record.session_id or record.retired_at:
        return False
    return booking.end + timedelta(days=retention_days) < now
