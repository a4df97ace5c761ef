"""The ledger table's stores, one concern each, on one LedgerHook (hooks/ledger.py)."""
