"""The task code of ``charter_reconcile``: the drift report (CONTRACT.md section 12)."""
