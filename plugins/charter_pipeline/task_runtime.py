"""What the tasks of every DAG share: the validated Variable, how errors become Airflow outcomes, and the one
line that describes a failure."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from charter_pipeline.booking import BookingError
from charter_pipeline.config import PipelineConfig

if TYPE_CHECKING:
    from charter_pipeline.hooks.guest_portal import GuestPortalHook
    from charter_pipeline.hooks.jada_calendar import JadaCalendarHook
    from charter_pipeline.hooks.ledger import LedgerHook
    from charter_pipeline.hooks.ops_alerts import OpsAlertsHook
    from charter_pipeline.hooks.scc import ShipCaptainCrewHook
    from charter_pipeline.hooks.scc_events import SccEventsTableHook


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


class ConfiguredHooks:
    """One hook per outside system, made from ``self.config`` on first use, inside the task (the hook modules
    import boto3 and the provider: never at DAG parse time). Publishing's steps and the reconcile run share this;
    a test may set any of them on the instance instead."""

    config: PipelineConfig

    @cached_property
    def ledger(self) -> LedgerHook:
        from charter_pipeline.hooks.ledger import LedgerHook

        return LedgerHook(self.config.ledger_table)

    @cached_property
    def calendar_hook(self) -> JadaCalendarHook:
        from charter_pipeline.hooks.jada_calendar import JadaCalendarHook

        return JadaCalendarHook()

    @cached_property
    def scc_hook(self) -> ShipCaptainCrewHook:
        from charter_pipeline.hooks.scc import ShipCaptainCrewHook

        return ShipCaptainCrewHook()

    @cached_property
    def scc_table(self) -> SccEventsTableHook:
        from charter_pipeline.hooks.scc_events import SccEventsTableHook

        return SccEventsTableHook(self.config.scc_events_table)

    @cached_property
    def portal(self) -> GuestPortalHook:
        from charter_pipeline.hooks.guest_portal import GuestPortalHook

        return GuestPortalHook(self.config.guest_bucket, self.config.cloudfront_distribution_id)

    @cached_property
    def alerts_hook(self) -> OpsAlertsHook:
        from charter_pipeline.hooks.ops_alerts import OpsAlertsHook

        return OpsAlertsHook()
