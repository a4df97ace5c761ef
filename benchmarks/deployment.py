"""A whole local deployment for the benchmarks that run the pipeline: the sandbox stack, the resources bootstrap
creates, the ``charter_pipeline`` Variable, and a migrated private ``AIRFLOW_HOME`` for ``airflow dags test``.

The benchmark process itself talks to the stack through the same ``aws_default``/``jada_dashboard``/``scc_api``
connections (``AIRFLOW_CONN_*`` in its environment), with the pipeline's own hooks: seeding the ledger and the
in-process comparison run go through exactly the code the DAG's tasks run.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.airflow_home import AirflowHome
from sandbox.bootstrap import bootstrap, put_plugins_on_path
from sandbox.samples import sample_variable
from sandbox.stack import SandboxStack

if TYPE_CHECKING:
    from charter_pipeline.config import PipelineConfig

VARIABLE_ENV = "AIRFLOW_VAR_CHARTER_PIPELINE"


def use_private_airflow_home(folder: Path) -> None:
    """Point this process's own Airflow (the hooks bootstrap and seeding use) at ``folder``, unless a home is set.

    Airflow reads its home once, at its first import; this must run before anything imports it.
    """
    if "AIRFLOW_HOME" not in os.environ:
        folder.mkdir(parents=True, exist_ok=True)
        os.environ["AIRFLOW_HOME"] = str(folder)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    put_plugins_on_path()


@dataclass(frozen=True)
class OutsideCalls:
    """Calls that left the pipeline during one measurement: AWS per service and operation, JADA, SCC."""

    aws: Mapping[str, Mapping[str, int]]
    jada: Counter[str]
    scc: Counter[str]

    @property
    def total(self) -> int:
        return sum(sum(ops.values()) for ops in self.aws.values()) + self.jada.total() + self.scc.total()

    def by_operation(self) -> dict[str, int]:
        found = {f"{service} {op}": n for service, ops in self.aws.items() for op, n in ops.items()}
        found.update({f"JADA {call}": n for call, n in self.jada.items()})
        found.update({f"SCC {call}": n for call, n in self.scc.items()})
        return dict(sorted(found.items()))

    def shown(self) -> str:
        return ", ".join(f"{name} x{count}" for name, count in self.by_operation().items()) or "none"


@dataclass
class Deployment:
    """One started stack with its resources, the Variable, and the Airflow home that runs against it."""

    stack: SandboxStack
    variable: dict[str, Any]
    config: PipelineConfig
    home: AirflowHome

    def connect_this_process(self) -> None:
        """Make the pipeline's hooks in this process use this deployment's stack."""
        os.environ.update(self.stack.connections_env())

    def with_variable(self, **settings: Any) -> Deployment:
        """The same stack with some Variable keys changed (say, another ledger table); bootstrap creates what is new."""
        from charter_pipeline.config import load_config

        variable = {**self.variable, **settings}
        config = load_config(variable)
        self.connect_this_process()
        report = bootstrap(config)
        if not report.ok:
            raise RuntimeError("bootstrap could not create: " + "; ".join(report.lines()))
        home = self.home.with_env(**{VARIABLE_ENV: json.dumps(variable)})
        return Deployment(self.stack, variable, config, home)

    def reset_calls(self) -> None:
        self.stack.aws.reset_counts()
        self.stack.jada.requests.clear()
        self.stack.scc.requests.clear()

    def calls(self) -> OutsideCalls:
        """What reached the outside since the last ``reset_calls``."""
        return outside_calls(self.stack)

    def put_export(self, name: str, data: bytes) -> str:
        """Drop an export file under ``exports_uri`` (straight into moto: not one of the pipeline's calls)."""
        bucket, _, prefix = self.config.exports_uri.removeprefix("s3://").partition("/")
        self.stack.boto3_client("s3").put_object(Bucket=bucket, Key=prefix + name, Body=data)
        return f"s3://{bucket}/{prefix}{name}"


def outside_calls(stack: SandboxStack) -> OutsideCalls:
    """What reached ``stack``'s services since its counts and request logs were last emptied."""

    def named(entries: list[dict[str, Any]]) -> Counter[str]:
        return Counter(f"{e['method']} {_route(str(e['path']))}" for e in entries if e.get("path"))

    return OutsideCalls(
        aws=stack.aws.call_counts(),
        jada=named(stack.jada.requests.entries()),
        scc=named(stack.scc.requests.entries()),
    )


def _route(path: str) -> str:
    """``/prod/events/evt_12`` -> ``/events/{id}``: one name per kind of call, whatever the id."""
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] in ("prod", "stage", "v1"):
        parts = parts[1:]
    return "/" + "/".join(parts[:1] + ["{id}"] * (len(parts) > 1))


@contextmanager
def deployment(root: Path, *, distribution: bool = False, migrate: bool = True, **settings: Any
               ) -> Iterator[Deployment]:  # fmt: skip
    """Start a stack under ``root``, create what the pipeline expects, migrate an Airflow home; stop it after.

    ``settings`` are Variable keys on top of the local stack's (sandbox.samples.sample_variable); with
    ``distribution`` bootstrap also creates the guest pages' CloudFront distribution, so invalidations run.
    Without ``migrate`` the Airflow home is left empty, for a deployment only this process uses.
    """
    use_private_airflow_home(root / "in-process-airflow-home")
    from charter_pipeline.config import load_config

    with SandboxStack(root / "stack") as stack:
        connections = stack.connections_env()
        os.environ.update(connections)
        report = bootstrap(load_config({**sample_variable(""), **settings}), create_distribution=distribution)
        if not report.ok:
            raise RuntimeError("bootstrap could not create: " + "; ".join(report.lines()))
        variable = {**sample_variable(report.distribution_id), **settings}
        secrets = [stack.dashboard_token, stack.scc_service_key, stack.aws_secret_access_key]
        home = AirflowHome(root, env={**connections, VARIABLE_ENV: json.dumps(variable)}, secrets=secrets)
        if migrate:
            home.migrate()
        yield Deployment(stack, variable, load_config(variable), home)
