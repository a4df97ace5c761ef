"""What the tasks of every DAG share: the validated Variable, how errors become Airflow outcomes, and the one
line that describes a failure."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from charter_pipeline.booking import BookingError
from charter_pipeline.config import PipelineConfig

if TYPE_CHECKING:
    from charter_pipeline.hooks.exports import ExportsHook
    from charter_pipeline.hooks.guest_portal import GuestPortalHook
    from charter_pipeline.hooks.jada_calendar import JadaCalendarHook
    from charter_pipeline.hooks.ledger import LedgerHook
    from charter_pipeline.hooks.ops_alerts import OpsAlertsHook
    from charter_pipeline.hooks.scc import ShipCaptainCrewHook
    from charter_pipeline.hooks.scc_events import SccEventsTableHook
    from charter_pipeline.stores.aftercare_marks import AftercareMarks
    from charter_pipeline.stores.booking_records import BookingRecords
    from charter_pipeline.stores.charter_index import CharterIndex
    from charter_pipeline.stores.drift_reports import DriftReports
    from charter_pipeline.stores.poll_state import PollStateStore


def describe(exc: BaseException) -> str:
    """One line for the ledger and the summary. Hook errors are already secret-free (hooks/policy.py)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def pipeline_config() -> PipelineConfig:
    """The ``charter_pipeline`` Variable, validated; a bad one fails the task at once, naming the key."""
    from airflow.sdk import Variable
    from airflow.sdk.exceptions import AirflowFailException

    from charter_pipeline.config import VARIABLE_KEY, ConfigError, load_config

    try:
        return load_config(Variable.get(VARIABLE_KEY, default=None))
    except ConfigError as exc:
        raise AirflowFailException(f"Variable {VARIABLE_KEY!r} is not usable: {exc}") from None


@contextmanager
def airflow_errors() -> Iterator[None]:
    """Permanent errors (bad input, refused credentials, a 4xx) fail the task without retries; anything else is
    raised as is, for Airflow's retries with backoff (CONTRACT.md section 8)."""
    from airflow.sdk.exceptions import AirflowFailException

    from charter_pipeline.config import ConfigError
    from charter_pipeline.hooks.policy import ServiceAuthError, ServiceRejected

    try:
        yield
    except (BookingError, ConfigError, ServiceAuthError, ServiceRejected) as exc:
        raise AirflowFailException(str(exc)) from exc


def run_now(context: Mapping[str, Any]) -> datetime:
    """ "Now" for one run of the aftercare and reconcile DAGs (CONTRACT.md sections 11 and 12): the run's logical
    date when it has one, so `airflow dags test <dag> <instant>` shows what that instant's run would do; else the
    current time. Manual and asset-triggered runs have no logical date (AIRFLOW-NOTES: their context lacks it)."""
    logical = context.get("logical_date")
    if logical is None:
        return datetime.now(UTC)
    return datetime.fromtimestamp(logical.timestamp(), UTC)


@dataclass(frozen=True)
class Hooks:
    """One hook per outside system and the ledger's stores on one LedgerHook (one client, one call count), made once
    per task from the Variable and handed to the step objects; nothing connects before first use."""

    ledger: LedgerHook
    records: BookingRecords
    poll_state: PollStateStore
    charter_index: CharterIndex
    aftercare: AftercareMarks
    drift_reports: DriftReports
    exports: ExportsHook
    calendar: JadaCalendarHook
    scc: ShipCaptainCrewHook
    scc_table: SccEventsTableHook
    portal: GuestPortalHook
    alerts: OpsAlertsHook

    @classmethod
    def from_config(cls, config: PipelineConfig, **given: Any) -> Hooks:
        """Every hook and store for ``config``, but those ``given``. Imported here, inside the task: the hook
        modules import boto3 and the providers, never at DAG parse time."""
        from charter_pipeline.hooks.exports import ExportsHook
        from charter_pipeline.hooks.guest_portal import GuestPortalHook
        from charter_pipeline.hooks.jada_calendar import JadaCalendarHook
        from charter_pipeline.hooks.ledger import LedgerHook
        from charter_pipeline.hooks.ops_alerts import OpsAlertsHook
        from charter_pipeline.hooks.scc import ShipCaptainCrewHook
        from charter_pipeline.hooks.scc_events import SccEventsTableHook
        from charter_pipeline.stores.aftercare_marks import AftercareMarks
        from charter_pipeline.stores.booking_records import BookingRecords
        from charter_pipeline.stores.charter_index import CharterIndex
        from charter_pipeline.stores.drift_reports import DriftReports
        from charter_pipeline.stores.poll_state import PollStateStore

        ledger = given.get("ledger") or LedgerHook(config.ledger_table)
        records = given.get("records") or BookingRecords(ledger)
        poll_state = given.get("poll_state") or PollStateStore(ledger)
        made = cls(
            ledger, records, poll_state, CharterIndex(ledger, records, poll_state), AftercareMarks(ledger),
            DriftReports(ledger), ExportsHook(), JadaCalendarHook(), ShipCaptainCrewHook(),
            SccEventsTableHook(config.scc_events_table),
            GuestPortalHook(config.guest_bucket, config.cloudfront_distribution_id), OpsAlertsHook(),
        )  # fmt: skip
        return replace(made, **given)
