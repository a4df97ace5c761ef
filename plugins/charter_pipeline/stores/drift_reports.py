"""The last drift report (CONTRACT.md section 12), kept in the ledger table beside the bookings, never among them."""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from charter_pipeline.ledger import DRIFT_REPORT_ID
from charter_pipeline.stores.booking_records import now_iso

if TYPE_CHECKING:
    from charter_pipeline.hooks.ledger import LedgerHook


class DriftReports:
    """The item ``DRIFT_REPORT_ID``: the report as JSON, gzip (one row per booking checked)."""

    def __init__(self, hook: LedgerHook) -> None:
        self.hook = hook

    def save_drift_report(self, report: Mapping[str, Any]) -> None:
        """Keep ``report`` as the last drift report, replacing the one before."""
        body = gzip.compress(json.dumps(report, sort_keys=True, separators=(",", ":")).encode(), mtime=0)
        self.hook.put({"booking_id": DRIFT_REPORT_ID, "report": body, "updated_at": now_iso()})

    def get_drift_report(self) -> dict[str, Any] | None:
        """The last drift report saved, or None before the first reconcile run."""
        item = self.hook.get(DRIFT_REPORT_ID)
        return json.loads(gzip.decompress(bytes(item["report"]))) if item and "report" in item else None
