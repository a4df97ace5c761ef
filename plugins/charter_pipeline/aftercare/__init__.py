"""The task code of ``charter_aftercare`` (CONTRACT.md section 11): crew answers before a trip, retired guest
pages after it."""
