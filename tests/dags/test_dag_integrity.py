"""DAG integrity: every file in dags/ imports cleanly, offline, and each DAG is fit to run unattended.

The same checks are aimed at deliberately broken folders first, so a pass on the real folder means something.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.dags.integrity import REPO, ParseReport, integrity_problems, parse_dags

DAGS = REPO / "dags"
PIPELINE_FILE = DAGS / "charter_booking_pipeline.py"
PIPELINE_ID = "charter_booking_pipeline"

SOUND_DAG = """
    from __future__ import annotations

    import os

    import pendulum
    from airflow.sdk import dag, task, task_group

    # Names only: shows whether the caller's connections or variables leaked into the parse.
    LEAKED = sorted(n for n in os.environ if n.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_")))


    @dag(
        dag_id="sound",
        schedule=os.environ.get("CHARTER_POLL_SCHEDULE", "*/15 * * * *"),
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        tags=["charter"],
        doc_md="Leaked: " + ",".join(LEAKED),
        default_args={"owner": "jada-ops", "retries": 2},
    )
    def sound():
        @task
        def bookings() -> list[str]:
            return ["B1", "B2"]

        @task_group
        def per_booking(booking: str) -> None:
            @task
            def publish(booking: str) -> str:
                return booking

            publish(booking)

        per_booking.expand(booking=bookings())


    sound()
"""


def _folder(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "dags"
    folder.mkdir()
    for name, source in files.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
    return folder


def _bare_dag(dag_id: str, body: str = "", **dag_args: str) -> str:
    """A one-task DAG that passes every check, unless ``dag_args`` (Python source) or ``body`` spoil it."""
    args = {
        "dag_id": repr(dag_id),
        "schedule": "None",
        "tags": '["charter"]',
        "doc_md": '"Documented."',
        "default_args": '{"owner": "jada-ops", "retries": 2}',
    } | dag_args
    arguments = ", ".join(f"{key}={value}" for key, value in args.items() if value)
    return f"""
from airflow.sdk import DAG, Variable
from airflow.providers.standard.operators.empty import EmptyOperator

{body}

with DAG({arguments}):
    EmptyOperator(task_id="only")
"""


def test_a_sound_dag_passes_and_parses_without_the_callers_connections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_JADA_DASHBOARD", '{"conn_type": "http", "host": "https://jada.invalid"}')
    monkeypatch.setenv("AIRFLOW_VAR_CHARTER_PIPELINE", "{}")

    report = parse_dags(_folder(tmp_path, sound=SOUND_DAG))

    assert integrity_problems(report) == []
    assert report.dags["sound"].doc_md == "Leaked: "
    assert report.dags["sound"].task_ids == ["bookings", "per_booking.publish"]


CHATTY_BODY = """
import socket
from airflow.sdk import BaseHook

for attempt in (lambda: BaseHook.get_connection("scc_api"), lambda: socket.create_connection(("127.0.0.1", 9), 1)):
    try:
        attempt()
    except Exception:
        pass  # a DAG that swallows the failure is still caught by what it touched
"""


@pytest.fixture(scope="module")
def broken_dags(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """One parse of a folder of deliberately broken DAG files (one parse keeps the suite quick)."""
    folder = _folder(
        tmp_path_factory.mktemp("broken"),
        syntax="from airflow.sdk import DAG\nwith DAG('x' schedule=None):\n    pass\n",
        untagged=_bare_dag("untagged", tags=""),
        eager=_bare_dag("eager", 'SETTINGS = Variable.get("charter_pipeline", default="{}")'),
        chatty=_bare_dag("chatty", CHATTY_BODY),
        sloppy=_bare_dag("sloppy", doc_md="", default_args='{"retries": 1}'),
    )
    return integrity_problems(parse_dags(folder))


def _about(problems: list[str], subject: str) -> list[str]:
    return [p for p in problems if p.startswith((f"{subject}:", f"parsing touched {subject}:"))]


def test_a_syntax_error_is_an_import_error(broken_dags: list[str]) -> None:
    (problem,) = _about(broken_dags, "syntax.py")
    assert problem.startswith("syntax.py: import error: SyntaxError")


def test_a_dag_without_tags_fails(broken_dags: list[str]) -> None:
    assert _about(broken_dags, "untagged") == ["untagged: has no tags"]


def test_variable_get_at_parse_time_fails(broken_dags: list[str]) -> None:
    problems = _about(broken_dags, "eager.py")
    assert "parsing touched eager.py: airflow.sdk _get_variable('charter_pipeline')" in problems
    assert any(p.startswith("eager.py: import error:") for p in problems)


def test_connection_and_network_lookups_at_parse_time_fail(broken_dags: list[str]) -> None:
    assert _about(broken_dags, "chatty.py") == [
        "parsing touched chatty.py: airflow.sdk _get_connection('scc_api')",
        "parsing touched chatty.py: socket.create_connection(('127.0.0.1', 9))",
    ]


def test_default_owner_low_retries_and_missing_docs_fail(broken_dags: list[str]) -> None:
    assert _about(broken_dags, "sloppy") == [
        "sloppy: owner must be set (not the default 'airflow'), got ['airflow']",
        "sloppy: default_args retries must be >= 2, got 1",
        "sloppy: has no doc_md",
    ]


def test_nothing_else_is_reported_for_the_broken_folder(broken_dags: list[str]) -> None:
    subjects = ("syntax.py", "untagged", "eager.py", "chatty.py", "sloppy")
    assert [p for p in broken_dags if not any(_about([p], s) for s in subjects)] == []


def test_an_empty_folder_fails(tmp_path: Path) -> None:
    assert integrity_problems(parse_dags(_folder(tmp_path))) == ["no DAG found"]


# The real dags/ folder. The pipeline DAG is written in parallel with these tests; until it exists they skip.
needs_pipeline = pytest.mark.skipif(not PIPELINE_FILE.exists(), reason=f"{PIPELINE_FILE.name} not written yet")


@pytest.fixture(scope="module")
def real_dags() -> ParseReport:
    return parse_dags(DAGS)


@needs_pipeline
def test_every_dag_file_imports_offline_and_is_fit_to_run(real_dags: ParseReport) -> None:
    assert integrity_problems(real_dags) == []
    parsed_files = {Path(dag.fileloc).name for dag in real_dags.dags.values()}
    assert PIPELINE_FILE.name in parsed_files


@needs_pipeline
def test_the_pipeline_polls_every_15_minutes_one_run_at_a_time(real_dags: ParseReport) -> None:
    pipeline = real_dags.dags[PIPELINE_ID]
    assert pipeline.schedule == "*/15 * * * *"
    assert pipeline.catchup is False
    assert pipeline.max_active_runs == 1


@needs_pipeline
@pytest.mark.parametrize("schedule", ["5,35 * * * *", "@hourly"])
def test_charter_poll_schedule_overrides_the_schedule(schedule: str) -> None:
    report = parse_dags(DAGS, env={"CHARTER_POLL_SCHEDULE": schedule})

    assert report.import_errors == {}
    assert report.dags[PIPELINE_ID].schedule == schedule


@needs_pipeline
@pytest.mark.parametrize("queue_url", ["", "   "])
def test_an_empty_exports_queue_url_leaves_the_cron_alone(queue_url: str) -> None:
    report = parse_dags(DAGS, env={"CHARTER_EXPORTS_QUEUE_URL": queue_url})

    assert report.import_errors == {}
    assert report.dags[PIPELINE_ID].schedule == "*/15 * * * *"


@needs_pipeline
def test_the_exports_queue_adds_a_watcher_to_the_cron_and_parses_offline() -> None:
    # The queue's host cannot be reached from here: parsing must not try (the probe's socket guard would record it).
    queue = "https://sqs.eu-west-1.amazonaws.com/123456789012/charter-exports"
    report = parse_dags(DAGS, env={"CHARTER_EXPORTS_QUEUE_URL": queue, "CHARTER_POLL_SCHEDULE": "5,35 * * * *"})

    assert integrity_problems(report) == []
    pipeline = report.dags[PIPELINE_ID]
    assert pipeline.schedule == "5,35 * * * * or asset charter_exports watched by charter_exports_queue"
    assert pipeline.max_active_runs == 1
