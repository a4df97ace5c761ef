"""What the reliability suite observes, and the report it writes from those observations.

- ``ReliabilityDeployment``: the e2e harness's ``Deployment`` that can run with a wrong secret in one connection
  and wipe its ledger, and remembers a label per run.
- ``Saboteur``: per-booking misbehaviour of the stand-ins that the fault book cannot express (faults match a
  method and path, not a booking): refuse one booking's create, or make the ledger write after one booking's
  create fail.
- Counting helpers over the stand-ins' request logs, and scanners for secrets, money, renter contacts and
  booking ids on every surface.
- ``Report``: rows of (what was tried, where, expected, observed, pass/fail) plus the runs' numbers; the session
  writes it to docs/RELIABILITY.md. Every row is computed from what the run left behind.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote, quote_plus

from sandbox.faults import Answer, Call, Fault, ServiceRequest
from sandbox.stack import SandboxStack
from tests.e2e.harness import AIRFLOW, DAG_ID, REPO, Deployment, RunResult

REPORT_ENV = "CHARTER_RELIABILITY_REPORT"
# The report's sections, in the order it shows them.
FAULTS = "Faults, reruns and a lost ledger (CONTRACT.md section 8)"
BAD_INPUT = "Bad input (CONTRACT.md sections 1 and 3)"
SURFACES = "Crew and guest surfaces (CONTRACT.md sections 6 and 7)"
SECRETS_AREA = "Secrets (CONTRACT.md section 8)"
AREAS = (FAULTS, BAD_INPUT, SURFACES, SECRETS_AREA)

# Distinctive values for every secret, so a scan can find any of them wherever it went.
SECRETS: dict[str, str] = {
    "dashboard_token": "relsec-dash-Hx83JqPz6Lw2Vn5Tq",
    "scc_service_key": "relsec-scck-Tb47RmYc2Kd9Fs1Gz",
    "aws_access_key_id": "AKIARELSEC7Q9XW2KD4M",
    "aws_secret_access_key": "relsec-awss-Qm7vX2pL9sK4wT8nB3cR",
}
# The wrong passwords a misconfigured deployment holds: secrets too, so they must not leak either.
WRONG_SECRETS: dict[str, str] = {
    "jada_dashboard": "relsec-wrongdash-Zp2Qk8Lm4",
    "scc_api": "relsec-wrongscc-Wm5Nd3Rx7",
}
CONNECTION_ENV = {"jada_dashboard": "AIRFLOW_CONN_JADA_DASHBOARD", "scc_api": "AIRFLOW_CONN_SCC_API"}


# --- deployments --------------------------------------------------------------------------------------------------


@dataclass
class LabelledRun:
    deployment: str
    label: str
    result: RunResult


@dataclass
class ReliabilityDeployment(Deployment):
    """A deployment that can hold a wrong password in a connection, and wipe its ledger."""

    wrong_connections: set[str] = field(default_factory=set)
    labelled: list[LabelledRun] = field(default_factory=list)
    console_dir: Path | None = None  # where each run's console output is kept, to read after a failure

    def connections(self) -> dict[str, str]:
        env = self.stack.connections_env()
        for conn_id in self.wrong_connections:
            conn = json.loads(env[CONNECTION_ENV[conn_id]])
            conn["password"] = WRONG_SECRETS[conn_id]
            env[CONNECTION_ENV[conn_id]] = json.dumps(conn)
        return env

    def run(self, conf: dict[str, Any] | None = None, *, timeout: float = 600, label: str = "") -> RunResult:
        """One ``airflow dags test`` as the harness runs it, with this deployment's (possibly wrong) connections."""
        from sandbox.run import airflow_env

        args = [AIRFLOW, "dags", "test", DAG_ID]
        if conf is not None:
            args += ["-c", json.dumps(conf)]
        env = airflow_env(self.airflow_home, connections=self.connections(), variable=self.variable)
        started = time.monotonic()
        done = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False)
        result = RunResult(done.returncode, done.stdout + done.stderr, time.monotonic() - started)
        self.runs.append(result)
        self.labelled.append(LabelledRun(self.name, label or f"run {len(self.runs)}", result))
        if self.console_dir is not None:
            self.console_dir.mkdir(parents=True, exist_ok=True)
            (self.console_dir / f"{self.name}-run-{len(self.runs)}.log").write_text(result.output, encoding="utf-8")
        return result

    def wipe_ledger(self) -> int:
        """Delete every item of the ledger table (bookings and poll state), as a lost table would; returns how many."""
        dynamodb = self.stack.boto3_client("dynamodb")
        table = self.variable["ledger_table"]
        keys = [item["booking_id"] for page in _scan(dynamodb, table) for item in page]
        for key in keys:
            dynamodb.delete_item(TableName=table, Key={"booking_id": key})
        return len(keys)

    def ledger_items(self) -> list[dict[str, Any]]:
        dynamodb = self.stack.boto3_client("dynamodb")
        return [item for page in _scan(dynamodb, self.variable["ledger_table"]) for item in page]

    def quarantine_keys(self) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket="jada-boatsetter-exports", Prefix=f"{self.name}/quarantine/")
        return [o["Key"] for o in listing.get("Contents", [])]


def _scan(dynamodb: Any, table: str) -> Iterable[list[dict[str, Any]]]:
    request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = dynamodb.scan(**request)
        yield page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# --- summaries ----------------------------------------------------------------------------------------------------

_SUMMARY_COUNT = re.compile(
    r"\b(published|updated|cancelled|unchanged|recorded only|quarantined|failed|deferred): (\d+)"
)


def summary_counts(output: str) -> dict[str, int]:
    """The counts line of the run summary as logged by ``run_summary`` (the last summary in the output)."""
    at = output.rfind("Charter booking run summary")
    if at < 0:
        return {}
    counts: dict[str, int] = {}
    for name, value in _SUMMARY_COUNT.findall(output[at : at + 2000]):
        counts.setdefault(name.replace(" ", "_"), int(value))
    return counts


def summary_row(output: str, booking_id: str) -> str:
    """The run summary's table line for one booking ('' if the summary does not list it)."""
    at = output.rfind("Charter booking run summary")
    if at < 0:
        return ""
    for line in output[at:].splitlines():
        if line.strip().startswith(booking_id[:16]):
            return line.strip()
    return ""


# --- request logs -------------------------------------------------------------------------------------------------


def external_key(service: str) -> str:
    return "external_id" if service == "jada" else "external_ref"


def request_booking(service: str, entry: Mapping[str, Any]) -> str:
    """The external id a logged request is about: in a create's body or a lookup's query."""
    key = external_key(service)
    body = entry.get("body")
    if isinstance(body, dict) and isinstance(body.get(key), str):
        return str(body[key])
    value = (entry.get("query") or {}).get(key)
    return value if isinstance(value, str) else ""


def successful_creates(stack: SandboxStack, service: str) -> Counter[str]:
    """Creates the service carried out, per external id: answered 201, or done and then the answer lost or held."""
    log = getattr(stack, service).requests.entries()
    return Counter(request_booking(service, e) for e in log if e["method"] == "POST" and e["status"] == 201)


def faulted(stack: SandboxStack, service: str) -> list[dict[str, Any]]:
    """Every call of ``service`` that a fault (or the saboteur) made misbehave."""
    return [e for e in getattr(stack, service).requests.entries() if e.get("fault")]


def outbox_by_event(stack: SandboxStack) -> dict[str, Counter[tuple[str, str]]]:
    """SCC's mails: event id -> Counter of (recipient, kind)."""
    mails: dict[str, Counter[tuple[str, str]]] = {}
    for mail in stack.scc.outbox():
        mails.setdefault(mail["event_id"], Counter())[(mail["to"], mail["kind"])] += 1
    return mails


# --- the saboteur -------------------------------------------------------------------------------------------------


@dataclass
class Sabotage:
    service: str
    external_id: str
    what: str
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


class Saboteur:
    """Per-booking misbehaviour, wrapped around the JADA and SCC stand-ins (their ``answer`` and ``fault_call``).

    - ``spare(external_id)``: the fault book never sees that booking's calls, so the faults armed for a run hit
      the other bookings, whatever order Airflow runs the mapped tasks in.
    - ``refuse(service, external_id, status, message)``: that booking's create is answered ``status``.
    - ``kill_ledger_after_create(service, external_id)``: once the service has created that booking's record, and
      at every later lookup of it, the next ledger write (DynamoDB UpdateItem through the AWS proxy) answers 500
      for as many attempts as botocore makes: the task dies right after its create, on every try, until
      ``lift()``. (The failure record that follows is written: the summary can say what went wrong.)
    """

    def __init__(self, stack: SandboxStack) -> None:
        from charter_pipeline.hooks.policy import aws_client_config

        self.stack = stack
        self.spared: set[str] = set()
        self.refusals: dict[tuple[str, str], tuple[int, str]] = {}
        self.ledger_killed: set[tuple[str, str]] = set()
        self.created: set[tuple[str, str]] = set()
        self.log: list[Sabotage] = []
        # botocore's "max_attempts" counts the retries after the first attempt ("total_max_attempts" all of them).
        retries = aws_client_config().retries or {}
        self.ledger_fault_count = int(retries.get("total_max_attempts") or retries.get("max_attempts", 4) + 1)
        self._armed: Fault | None = None
        self._originals: dict[str, tuple[Any, Any]] = {}

    def __enter__(self) -> Self:
        for service in ("jada", "scc"):
            target = getattr(self.stack, service)
            self._originals[service] = (target.answer, target.fault_call)
            target.answer = self._wrap_answer(service, target.answer)
            target.fault_call = self._wrap_fault_call(service, target.fault_call)
        return self

    def __exit__(self, *exc: object) -> None:
        for service, (answer, fault_call) in self._originals.items():
            target = getattr(self.stack, service)
            target.answer, target.fault_call = answer, fault_call
        self._originals.clear()

    def spare(self, *external_ids: str) -> None:
        self.spared.update(external_ids)

    def refuse(self, service: str, external_id: str, status: int, message: str) -> None:
        self.refusals[(service, external_id)] = (status, message)

    def kill_ledger_after_create(self, service: str, external_id: str) -> None:
        self.ledger_killed.add((service, external_id))

    def lift(self) -> None:
        self.spared.clear()
        self.refusals.clear()
        self.ledger_killed.clear()

    def _about(self, service: str, request: ServiceRequest) -> str:
        if request.method not in ("GET", "POST"):
            return ""
        return request_booking(service, {"body": request.logged_body(), "query": request.query})

    def _wrap_fault_call(self, service: str, original: Callable[[ServiceRequest], Call]) -> Callable[..., Call]:
        def fault_call(request: ServiceRequest) -> Call:
            call = original(request)
            if self._about(service, request) in self.spared:
                return Call(call.method, call.path + "#spared", call.service, call.operation)
            return call

        return fault_call

    def _wrap_answer(self, service: str, original: Callable[[ServiceRequest], Answer]) -> Callable[..., Answer]:
        def answer(request: ServiceRequest) -> Answer:
            external_id = self._about(service, request)
            refusal = self.refusals.get((service, external_id))
            if refusal is not None and request.method == "POST":
                self.log.append(Sabotage(service, external_id, f"create refused with HTTP {refusal[0]}"))
                return Answer.message(*refusal)
            answered = original(request)
            if (service, external_id) in self.ledger_killed:
                created = request.method == "POST" and answered.status == 201
                if created:
                    self.created.add((service, external_id))
                if created or (request.method == "GET" and (service, external_id) in self.created):
                    self._arm_ledger_fault(external_id)
            return answered

        return answer

    def _arm_ledger_fault(self, external_id: str) -> None:
        # dags test runs one task at a time: arm again only once the last batch is used up.
        if self._armed is not None and self._armed.count > 0:
            return
        self._armed = self.stack.aws.inject_error("dynamodb", "UpdateItem", status=500, count=self.ledger_fault_count)
        self.log.append(Sabotage("aws", external_id, f"next {self.ledger_fault_count} ledger writes answer 500"))


# --- scanning surfaces --------------------------------------------------------------------------------------------


def secret_forms(secret: str) -> set[str]:
    """A secret as it could appear: plain, URL-encoded, form-encoded."""
    return {secret, quote(secret, safe=""), quote_plus(secret)}


def all_secrets() -> dict[str, str]:
    return {**SECRETS, **{f"wrong password of {k}": v for k, v in WRONG_SECRETS.items()}}


def find_secrets(haystacks: Mapping[str, str]) -> list[tuple[str, str]]:
    """(where, which secret) for every secret found in any haystack."""
    found = []
    for where, text in haystacks.items():
        for name, secret in all_secrets().items():
            if any(form in text for form in secret_forms(secret)):
                found.append((where, name))
    return found


def airflow_home_files(home: Path) -> dict[str, str]:
    """Every file under the AIRFLOW_HOME (logs, config, the metadata database as bytes), as text."""
    found = {}
    for path in sorted(home.rglob("*")):
        if path.is_file():
            found[str(path.relative_to(home))] = path.read_bytes().decode("utf-8", errors="replace")
    return found


def xcoms(home: Path) -> list[dict[str, Any]]:
    """Every XCom in the home's metadata database (sqlite ``xcom`` table)."""
    with sqlite3.connect(home / "airflow.db") as db:
        rows = db.execute("SELECT dag_id, run_id, task_id, map_index, key, value FROM xcom").fetchall()
    found = []
    for dag_id, run_id, task_id, map_index, key, value in rows:
        text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
        found.append({"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": map_index, "key": key,
                      "value": text})  # fmt: skip
    return found


def guest_pages(stack: SandboxStack, bucket: str = "queenofsandiego.com") -> dict[str, str]:
    """Every object in the guest bucket, by key."""
    s3 = stack.boto3_client("s3")
    pages = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            pages[obj["Key"]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode("utf-8", "replace")
    return pages


# Money as crew or a guest would read it. Written here, independently of the pipeline's own rules in money_words.py.
AMOUNT = re.compile(
    r"[$€£]\s?\d|\b\d[\d,]*\.\d\d\b|\b\d[\d,]*(?:\.\d+)?\s?(?:usd|dollars?|bucks)\b|\busd\b", re.IGNORECASE
)
MONEY_WORDS = frozenset(
    {
        "revenue", "gross", "net", "cost", "costs", "fee", "fees", "rate", "rates", "pay", "paid", "payment",
        "payout", "payouts", "price", "pricing", "margin", "commission", "earnings", "wage", "wages", "salary",
        "income", "profit", "budget", "invoice", "deposit", "refund", "tip", "tips", "gratuity", "money",
    }
)  # fmt: skip
_WORD = re.compile(r"[a-z]+")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


def key_words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return _WORD.findall(spaced.lower())


def money_words_in(text: str) -> list[str]:
    return sorted({word for word in _WORD.findall(text.lower()) if word in MONEY_WORDS})


def money_in_value(value: Any, where: str = "") -> list[str]:
    """Every place in a JSON-like value that speaks of money: a money key, a money word or an amount in text."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, inner in value.items():
            path = f"{where}.{key}" if where else str(key)
            if any(word in MONEY_WORDS for word in key_words(str(key))):
                found.append(f"key {path}")
            found.extend(money_in_value(inner, path))
    elif isinstance(value, list | tuple):
        for index, inner in enumerate(value):
            found.extend(money_in_value(inner, f"{where}[{index}]"))
    elif isinstance(value, str):
        if AMOUNT.search(value):
            found.append(f"amount in {where}: {AMOUNT.search(value).group(0)!r}")  # type: ignore[union-attr]
        words = money_words_in(value)
        if words:
            found.append(f"money word(s) {words} in {where}")
    return found


def page_text(html: str) -> str:
    """What a guest reads: the page without its style sheet, scripts and tags (the whole HTML is scanned for
    contacts and booking ids separately)."""
    html = re.sub(r"<(style|script)\b.*?</\1\s*>", " ", html, flags=re.S | re.I)
    return re.sub(r"<[^>]+>", " ", html)


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


# --- the report ---------------------------------------------------------------------------------------------------


@dataclass
class Check:
    area: str
    tried: str
    where: str
    expected: str
    observed: str
    ok: bool


@dataclass
class Section:
    """The checks one test makes in one area of the report. ``check`` records; ``verify`` fails the test if any
    of this section's checks failed (all of them are in the report either way)."""

    report: Report
    area: str
    made: list[Check] = field(default_factory=list)

    def check(self, tried: str, where: str, expected: str, observed: str, ok: bool) -> bool:
        made = Check(self.area, tried, where, expected, observed, bool(ok))
        self.made.append(made)
        self.report.checks.append(made)
        return made.ok

    def verify(self) -> None:
        failed = [c for c in self.made if not c.ok]
        assert not failed, "\n".join(f"{c.tried} @ {c.where}: expected {c.expected}; saw {c.observed}" for c in failed)


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    runs: list[LabelledRun] = field(default_factory=list)
    numbers: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def rows(self) -> list[Check]:
        return self.checks

    @property
    def complete(self) -> bool:
        """Every area of the suite reported, and whole DAG runs were made."""
        return bool(self.runs) and {c.area for c in self.checks} >= set(AREAS)

    def section(self, area: str) -> Section:
        return Section(self, area)

    def note(self, area: str, name: str, value: object) -> None:
        self.numbers.setdefault(area, {})[name] = str(value)

    def markdown(self) -> str:
        passed = sum(c.ok for c in self.checks)
        commit = _git("rev-parse", "--short", "HEAD")
        dirty = " (with uncommitted changes)" if _git("status", "--porcelain", "--", "plugins", "dags") else ""
        lines = [
            "# Reliability and security: what was tried and what happened",
            "",
            (
                "Generated by `tests/reliability` (`pytest -m reliability tests/reliability`) from the observations "
                "of a real session: whole `airflow dags test charter_booking_pipeline` runs against the sandbox "
                "stand-ins with faults injected. Do not edit by hand; rerun the suite. Every *observed* cell is "
                "computed from what the runs left behind (request logs, stored entries and events, pages, the "
                "ledger, the runs' output)."
            ),
            "",
            f"- Session: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, pipeline at commit {commit}{dirty}",
            f"- Checks: {len(self.checks)}, passed: {passed}, failed: {len(self.checks) - passed}",
            f"- Whole DAG runs: {len(self.runs)}, {sum(r.result.seconds for r in self.runs):.0f} s in all",
            "",
        ]
        failed = [c for c in self.checks if not c.ok]
        if failed:
            lines += ["Failed checks:", ""]
            lines += [f"- {_cell(c.tried)} ({_cell(c.where)}): saw {_cell(c.observed)[:300]}" for c in failed]
            lines.append("")
        seen = dict.fromkeys(c.area for c in self.checks)
        for area in [a for a in AREAS if a in seen] + [a for a in seen if a not in AREAS]:
            lines += [f"## {area}", "", "| tried | where | expected | observed | result |", "|---|---|---|---|---|"]
            for c in (c for c in self.checks if c.area == area):
                cells = [c.tried, c.where, c.expected, c.observed, "pass" if c.ok else "**FAIL**"]
                lines.append("| " + " | ".join(_cell(x) for x in cells) + " |")
            if area in self.numbers:
                lines += ["", "Numbers:", ""]
                lines += [f"- {name}: {value}" for name, value in self.numbers[area].items()]
            lines.append("")
        lines += ["## Runs", "", "| deployment | run | exit code | seconds |", "|---|---|---|---|"]
        for run in self.runs:
            code = run.result.returncode
            lines.append(f"| {run.deployment} | {_cell(run.label)} | {code} | {run.result.seconds:.1f} |")
        lines.append("")
        return "\n".join(lines)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else "unknown"
