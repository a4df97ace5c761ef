"""The poll's bookkeeping item ``#poll-state``: the export files already read (gzip JSON, so years of files fit the
400 KB item limit) and the backlog of bookings that still need work (failed, or beyond max_bookings_per_run)."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from charter_pipeline.ledger import POLL_STATE_ID
from charter_pipeline.stores.booking_records import now_iso

if TYPE_CHECKING:
    from charter_pipeline.hooks.ledger import Condition, LedgerHook


@dataclass
class PollState:
    """What the poll remembers between runs: files read (uri -> version) and bookings still owed work.

    ``version`` and ``read_backlog`` are what ``get_poll_state`` read; ``save_poll_state`` writes only if nobody
    wrote in between, and otherwise applies this state's changes to what is there now (see there)."""

    files: dict[str, str] = field(default_factory=dict)
    backlog: list[str] = field(default_factory=list)
    version: int = 0
    read_backlog: list[str] | None = None  # None: not read from the ledger, so written as it is


class PollStateStore:
    """The poll state, versioned."""

    def __init__(self, hook: LedgerHook) -> None:
        self.hook = hook

    def get_poll_state(self) -> PollState:
        item = self.hook.get(POLL_STATE_ID)
        if not item:
            return PollState(read_backlog=[])
        files = json.loads(gzip.decompress(bytes(item["files"]))) if "files" in item else {}
        backlog = json.loads(item["backlog"]) if "backlog" in item else []
        return PollState(files=files, backlog=backlog, version=int(item.get("version", 0)), read_backlog=list(backlog))

    def backlog(self) -> list[str]:
        """The bookings still owed work, read alone (one GetItem, by projection; the files stay in the table)."""
        item = self.hook.get(POLL_STATE_ID, ("backlog",), consistent=False)
        return list(json.loads((item or {}).get("backlog", "[]")))

    def save_poll_state(self, state: PollState) -> None:
        """Write the poll state, if nobody wrote it since ``state`` was read (its ``version``).

        Both the poll (files read, bookings owed) and the run summary (bookings now in sync) rewrite this item, in
        different runs that may overlap (a cleared task, a manual trigger beside a scheduled poll). When someone
        did write in between, this state's own changes are applied to what is there now (files added; bookings
        added to and taken off the backlog since it was read) and written again, so neither loses the other's."""
        from charter_pipeline.hooks.ledger import ConditionFailed

        while True:
            files = json.dumps(state.files, sort_keys=True, separators=(",", ":")).encode()
            item: dict[str, Any] = {
                "booking_id": POLL_STATE_ID,
                "files": gzip.compress(files, mtime=0),
                "backlog": json.dumps(sorted(set(state.backlog))),
                "updated_at": now_iso(),
                "version": state.version + 1,
            }
            condition: Condition | None = None
            if state.read_backlog is not None:  # read from here: write only over what was read
                condition = ("attribute_not_exists(#version)", {"#version": "version"})
                if state.version:
                    condition = ("#version = :read", {"#version": "version", ":read": state.version})
            try:
                self.hook.put(item, condition)
                return
            except ConditionFailed:
                pass
            now = self.get_poll_state()
            read = set(state.read_backlog or ())
            mine = set(state.backlog)
            now.backlog = sorted((set(now.backlog) | (mine - read)) - (read - mine))
            now.files = {**now.files, **state.files}
            state = now
