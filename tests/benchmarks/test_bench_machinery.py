"""The benchmarks' machinery on tiny sizes: rows, tables, the page, the generated exports, the timelines.

No timing is asserted anywhere: speed is what ``make bench`` measures, not what tests check.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from benchmarks import intake, parse_time
from benchmarks.airflow_home import AirflowHome, AirflowRun
from benchmarks.bookings import BAD_CELLS, ROSTER_BOATS, csv_bytes, export_rows, upcoming_charters
from benchmarks.report import Row, Section, interleaved, performance_page, text_table, updated_page
from sandbox.samples import BOATSETTER_HEADER

TODAY = date(2026, 6, 1)
# "Now" on the exports' day: by the wall clock their charters would have sailed, and a poll skips sailed charters.
NOW = datetime(2026, 6, 1, 19, tzinfo=UTC)


def row(name: str = "thing", *, passed: bool | None = True, measured: float = 2.0, baseline: float = 1.0) -> Row:
    return Row(name=name, measured=measured, baseline=baseline, unit="s", target="ratio <= 3x", passed=passed)


# --- report ----------------------------------------------------------------------------------------------------


def test_row_ratio_and_verdict() -> None:
    assert row(measured=3.0, baseline=1.5).ratio == pytest.approx(2.0)
    assert (row(passed=True).verdict, row(passed=False).verdict, row(passed=None).verdict) == ("PASS", "MISS", "info")
    assert row(baseline=0.0).ratio is None


def test_text_table_has_one_line_per_row_and_a_line_for_a_benchmark_that_did_not_run() -> None:
    sections = [
        Section("a", "A", rows=[row("parse", passed=True), row("poll", passed=False)]),
        Section("b", "B", error="RuntimeError: no stack"),
    ]
    lines = text_table(sections).splitlines()
    assert lines[0].split() == ["benchmark", "measured", "baseline", "ratio", "target", "result"]
    assert [line.split()[0] for line in lines[2:]] == ["parse", "poll", "B:"]
    assert lines[2].endswith("PASS")
    assert lines[3].endswith("MISS")
    assert lines[4].endswith("MISS")
    assert "2.00x" in lines[2]


def test_the_page_holds_the_table_machine_versions_and_each_section() -> None:
    sections = [
        Section("a", "1. Parse", rows=[row("parse", passed=True)], details=["parsed twice"]),
        Section("b", "2. Poll", rows=[row("poll", passed=False)], details=["profile: `poll.py`"]),
        Section("c", "3. Broken", error="AirflowFailed: boom"),
    ]
    start = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    page = performance_page(
        sections, started=start, finished=start + timedelta(minutes=9), quick=False, load_before="1.00, 1.00, 1.00",
        load_after="2.00, 1.50, 1.00", command="python -m x",
    )  # fmt: skip
    assert page.startswith("# Performance\n")
    assert "Written by `python -m x` on 2026-06-01 12:09 UTC (9.0 minutes)" in page
    assert "| parse | 2.00 s | 1.00 s | 2.00x | ratio <= 3x | PASS |" in page
    assert "| poll | 2.00 s | 1.00 s | 2.00x | ratio <= 3x | MISS |" in page
    assert "MISS in 2. Poll, 3. Broken" in page
    assert "**3. Broken did not run:** AirflowFailed: boom" in page
    for heading in ("## Machine", "## Versions", "## 1. Parse", "## 2. Poll", "## 3. Broken"):
        assert f"\n{heading}\n" in page
    assert "- apache-airflow 3." in page
    assert "- moto " in page
    assert "- python 3." in page
    assert "Quick run" not in page


def test_interleaving_alternates_which_side_goes_first() -> None:
    order: list[str] = []

    def measure(side: str, seconds: float) -> float:
        order.append(side)
        return seconds

    ours, theirs = interleaved(4, lambda: measure("ours", 2.0), lambda: measure("base", 1.0))
    assert order == ["ours", "base", "base", "ours", "ours", "base", "base", "ours"]
    assert (ours.values, theirs.values) == ((2.0,) * 4, (1.0,) * 4)


# --- generated exports -------------------------------------------------------------------------------------------


def test_a_generated_export_has_later_snapshots_and_bad_rows_and_reads_back() -> None:
    from charter_pipeline.exports import parse_rows, read_export

    rows = export_rows(3000, today=TODAY)
    ids = [r["Booking ID"] for r in rows]
    assert len(set(ids)) < len(ids), "some bookings appear again with a later snapshot"
    assert {tuple(r) for r in rows} == {BOATSETTER_HEADER}
    bad = {(column, value) for column, value in BAD_CELLS}
    assert any((column, r[column]) in bad for r in rows for column, _ in BAD_CELLS)

    data = csv_bytes(rows)
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in data
    assert sum(1 for _ in csv.reader(io.StringIO(data.decode("utf-8-sig")))) == len(rows) + 1
    candidates, problems = parse_rows("bench.csv", read_export("bench.csv", data), intake.TZ,
                                      last_modified=datetime(2026, 6, 1, tzinfo=UTC))  # fmt: skip
    assert len(candidates) + len(problems) == len(rows)
    assert 0 < len(problems) < len(rows) * 0.05


def test_upcoming_charters_are_all_publishable() -> None:
    from charter_pipeline.booking import parse_booking

    rows = upcoming_charters(20, today=TODAY)
    bookings = [parse_booking(r, intake.TZ) for r in rows]
    assert len({b.booking_id for b in bookings}) == 20
    assert all(b.is_charter and b.trip_date > TODAY for b in bookings)
    assert {b.boat for b in bookings} <= set(ROSTER_BOATS)
    assert upcoming_charters(3, today=TODAY) == upcoming_charters(3, today=TODAY), "seeded: the same bytes each run"


# --- airflow runs ------------------------------------------------------------------------------------------------

DAGS_TEST_OUTPUT = """\
2026-06-01T12:00:05.000000Z [info     ] Filling up the DagBag from /repo/dags [airflow.dag_processing.dagbag] loc=x
2026-06-01T12:00:06.000000Z [info     ] [DAG TEST] starting task_id=collect_bookings map_index=-1 [airflow.sdk] loc=x
2026-06-01T12:00:09.000000Z [info     ] [DAG TEST] end task task_id=collect_bookings map_index=-1 [airflow.sdk] loc=x
2026-06-01T12:00:09.500000Z [warning  ] No tasks to run. unrunnable tasks: {...} [airflow.sdk] loc=x
2026-06-01T12:00:10.500000Z [info     ] [DAG TEST] starting task_id=charter.financials map_index=0 [airflow.sdk] loc=x
2026-06-01T12:00:11.000000Z [info     ] [DAG TEST] end task task_id=charter.financials map_index=0 [airflow.sdk] loc=x
2026-06-01T12:00:11.000000Z [info     ] [DAG TEST] starting task_id=charter.financials map_index=1 [airflow.sdk] loc=x
2026-06-01T12:00:12.000000Z [info     ] [DAG TEST] end task task_id=charter.financials map_index=1 [airflow.sdk] loc=x
2026-06-01T12:00:12.000000Z [info     ] DagRun Finished: dag_id=charter_booking_pipeline, logical_date=2026, \
run_id=manual__2026, run_duration=6.0, state=success, run_type=manual [airflow.models.dagrun.DagRun] loc=x
"""


def test_a_dags_test_run_is_cut_into_start_up_tasks_waiting_and_shutdown() -> None:
    run = AirflowRun(seconds=13.0, returncode=0, output=DAGS_TEST_OUTPUT,
                     started_at=datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC))  # fmt: skip
    timeline = run.timeline()
    assert run.run_state == "success"
    assert [(s.task_id, s.map_index) for s in timeline.spans] == [
        ("collect_bookings", -1), ("charter.financials", 0), ("charter.financials", 1)
    ]  # fmt: skip
    assert timeline.startup == pytest.approx(6.0)
    assert timeline.in_tasks == pytest.approx(4.5)
    assert timeline.shutdown == pytest.approx(1.0)
    assert timeline.between_tasks == pytest.approx(1.5)
    assert timeline.idle_loops == 1
    assert timeline.by_task() == {"collect_bookings": (1, 3.0), "charter.financials": (2, 1.5)}


def test_airflow_subprocesses_get_the_contract_deployment_and_no_inherited_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__PARALLELISM", "64")
    monkeypatch.setenv("AIRFLOW_CONN_SOMETHING_ELSE", "http://x")
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    home = AirflowHome(tmp_path, env={"AIRFLOW_CONN_SCC_API": '{"password": "s3cret-key"}'}, secrets=["s3cret-key"])
    env = home.environ()
    assert env["AIRFLOW_HOME"] == str(tmp_path / "airflow-home")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"].endswith("/dags")
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"].endswith("/plugins")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert "AIRFLOW__CORE__PARALLELISM" not in env
    assert "AIRFLOW_CONN_SOMETHING_ELSE" not in env
    assert "PYTHONPATH" not in env
    assert env["AIRFLOW_CONN_SCC_API"] == '{"password": "s3cret-key"}'
    assert home.tail("line 1\nAuthorization: Bearer s3cret-key") == "line 1\nAuthorization: Bearer ***"


# --- the pure benchmarks, tiny ----------------------------------------------------------------------------------


def test_intake_benchmark_reports_both_ledgers_and_memory() -> None:
    section = intake.run(rows=1_500, ledger_size=2_000, repeats=1)
    assert not section.error
    assert [r.name for r in section.rows] == [
        "intake: 1,500 rows, re-export (0.5% new, 0.5% changed) vs csv.reader",
        "intake: 1,500 rows, heavy churn (5% new, 5% changed) vs csv.reader",
        "intake floor: csv.reader, row digest and ledger lookup only, nothing parsed, vs csv.reader",
        "intake: peak memory of the re-export poll vs csv.reader",
    ]
    steady, churn, floor, memory = section.rows
    assert steady.baseline_name == churn.baseline_name == floor.baseline_name == "csv.reader"
    assert floor.passed is None
    assert steady.passed is not None
    assert churn.passed is not None
    assert memory.unit == "MB"
    assert memory.passed is None
    text = "\n".join(section.details)
    assert "1,500 rows" in text
    assert "ledger of 2,000 DynamoDB items" in text
    # What stands for the network is measured apart and taken off each poll.
    assert len(re.findall(r"taken off, the in-memory ledger building its answers: median \d+\.\d+ s", text)) == 2
    found = [line for line in text.splitlines() if line.startswith("  - the poll found:")]
    assert len(found) == 2
    # Most of a re-export is recognised without parsing; heavy churn leaves much more to read.
    unchanged = [int(re.search(r"unchanged ([\d,]+)", line)[1].replace(",", "")) for line in found]  # type: ignore[index]
    assert unchanged[0] > unchanged[1] > 0
    # The floor hashes rows as the pipeline does, so the rows the poll recognised match their records there too.
    matched = int(re.search(r"\(([\d,]+) of 1,500 rows matched", text)[1].replace(",", ""))  # type: ignore[index]
    assert matched >= unchanged[0]


def test_the_in_memory_ledger_answers_as_the_hook_reads_dynamodb() -> None:
    now = NOW
    ledger = intake.ledger_for(csv_bytes(export_rows(300, today=TODAY)), 250, last_modified=now, now=now)
    table = intake.LedgerInMemory(intake.as_items(ledger))
    asked = [*ledger, "BS-never-seen"]
    assert table.get_many(asked) == ledger
    assert table.get_summaries(asked) == {booking_id: record.summary() for booking_id, record in ledger.items()}
    assert table.answer_seconds > 0


def test_intake_profile_names_the_pipeline_functions() -> None:
    now = NOW
    data = csv_bytes(export_rows(800, today=TODAY))
    ledger = intake.ledger_for(data, 1_000, last_modified=now, now=now)
    assert len(ledger) == 1_000
    table = intake.LedgerInMemory(intake.as_items(ledger))
    text = "\n".join(intake.profile_details(data, table, last_modified=now, now=now))
    assert "| function | cumulative s | own s | calls | share of total |" in text
    assert "charter_pipeline/exports.py" in text
    assert "(parse_rows)" in text


def test_parse_time_benchmark_parses_both_folders() -> None:
    section = parse_time.run(repeats=1)
    assert not section.error
    assert [r.name for r in section.rows] == ["DAG parse: dags/ vs one-task DAG"]
    assert section.rows[0].baseline_name == "one-task DAG"
    assert (
        "DAGs found: benchmark_trivial, charter_aftercare, charter_booking_pipeline, charter_reconcile."
        in "\n".join(section.details)
    )


def test_measuring_one_section_again_changes_only_its_rows_and_its_part_of_the_page() -> None:
    start = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    sections = [
        Section("a", "1. Parse", rows=[row("parse: x", passed=True)], details=["parsed twice"]),
        Section("b", "2. Poll", rows=[row("poll: y", passed=False)], details=["| profile | 1 |", "", "polled"]),
        Section("d", "4. Later", rows=[row("later: z", passed=None)], details=["later text"]),
    ]
    page = performance_page(sections, started=start, finished=start, quick=False, load_before="1", load_after="2",
                            command="python -m benchmarks")  # fmt: skip
    again = Section("b", "2. Poll", rows=[row("poll: y", measured=9.0, passed=None)], details=["polled again"])
    new = Section("c", "3. Throughput", rows=[row("throughput: w", measured=5.0, passed=None)], details=["tput"])

    updated = updated_page(page, [again, new], command="python -m benchmarks --only poll throughput",
                           finished=start + timedelta(hours=1), load_before="3", load_after="4")  # fmt: skip

    table = [line for line in updated.splitlines() if line.startswith("| ") and ": " in line]
    assert [line.split(" | ")[0] for line in table] == ["| parse: x", "| poll: y", "| later: z", "| throughput: w"]
    assert "| poll: y | 9.00 s | 1.00 s | 9.00x | ratio <= 3x | info |" in updated
    assert "polled again" in updated
    assert "polled\n" not in updated
    assert "| profile | 1 |" not in updated
    assert "parsed twice" in updated
    assert "later text" in updated
    assert updated.index("## 2. Poll") < updated.index("## 3. Throughput") < updated.index("## 4. Later")
    assert "`python -m benchmarks --only poll throughput` on 2026-06-01 13:00 UTC" in updated
    assert updated.count("## 2. Poll") == 1
    # The verdict follows: 2. Poll missed its target, and now meets it.
    assert "Result: MISS in 2. Poll (see below)." in page
    assert "Result: every target met." in updated
    missed_again = Section("b", "2. Poll", rows=[row("poll: y", passed=False)], details=[])
    assert "Result: MISS in 2. Poll (see below)." in updated_page(
        updated, [missed_again], command="c", finished=start, load_before="", load_after=""
    )
    # Unchanged outside those two: the header, the machine, the other sections.
    assert updated.split("| benchmark |")[0] == page.split("| benchmark |")[0]
    assert (
        updated_page(updated, [again], command="c", finished=start, load_before="", load_after="").count("| poll: y |")
        == 1
    )


def _ti(task: str, map_index: int, scheduled: int, queued: int, start: int, end: int, **more: object) -> dict:
    at = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

    def stamp(seconds: int) -> str:
        return (at + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")

    return {"task_id": task, "map_index": map_index, "try_number": 1, "scheduled_when": stamp(scheduled),
            "queued_when": stamp(queued), "start_date": stamp(start), "end_date": stamp(end), "hostname": "w",
            **more}  # fmt: skip


def test_throughput_splits_each_task_instance_into_waiting_for_a_slot_queued_and_running() -> None:
    from benchmarks import throughput

    instances = [
        _ti("collect_bookings", -1, 0, 1, 2, 6),
        _ti("charter.calendar_entry", 0, 6, 7, 9, 12),
        _ti("charter.calendar_entry", 1, 6, 10, 11, 15),
        _ti("charter.guest_page", 0, 6, 6, 8, 10),
        _ti("charter.guest_page", 1, 6, 6, 8, 10, try_number=2),  # a retry: its first try's times are gone
        _ti("run_summary", -1, 15, 15, 16, 17),
    ]
    found = throughput.phases(instances)

    assert [(p.task, p.ready_to_queued, p.queued_to_running, p.running) for p in found] == [
        ("collect_bookings", 1, 1, 4),
        ("charter.calendar_entry", 1, 2, 3),
        ("charter.calendar_entry", 4, 1, 4),
        ("charter.guest_page", 0, 2, 2),
        ("run_summary", 0, 1, 1),
    ]
    assert throughput.most_at_once(instances) == 3  # from 9 s to 10 s: calendar entry 0 and both guest pages
    assert throughput.p95([1.0, 2.0, 3.0, 4.0, 100.0]) == 100.0
    assert throughput.p95(list(map(float, range(1, 101)))) == 95.0
    assert throughput.caps_at_once()["charter.cloudfront_invalidation"] >= 1
    assert set(throughput.caps_at_once()) >= {"charter.calendar_entry", "charter.scc_event", "charter.guest_page"}


def test_the_throughput_section_reads_out_both_executors_from_airflows_timestamps() -> None:
    from collections import Counter

    from benchmarks import throughput
    from benchmarks.deployment import OutsideCalls

    instances = [
        _ti("collect_bookings", -1, 0, 1, 2, 6),
        *[_ti(f"charter.{task}", n, 6, 7 + n, 8 + n, 10 + n) for n in range(2) for task in ("financials", "scc_event")],
        _ti("run_summary", -1, 12, 12, 13, 14),
    ]
    run = {"start_date": "2026-06-01T12:00:00Z", "end_date": "2026-06-01T12:00:20Z"}
    found = {
        "run": run, "instances": instances, "unpaused": datetime(2026, 6, 1, 11, 59, 30, tzinfo=UTC), "cpu": 0.5,
        "calls": OutsideCalls(aws={"s3": {"PutObject": 2}}, jada=Counter({"POST /calendar": 2}), scc=Counter()),
        "slots": 8,
    }  # fmt: skip

    section = throughput.section_of({"local": found, "celery": found}, bookings=2)

    assert [row.measured for row in section.rows] == [10.0, 10.0]
    assert {row.baseline for row in section.rows} == {throughput.DAGS_TEST_SECONDS_PER_BOOKING}
    text = "\n".join(section.details)
    assert "| run wall time (start to end) | 20 s | 20 s |" in text
    assert "| unpaused to run start (the cron tick) | 30 s | 30 s |" in text
    assert "| calls to the services, per booking | 2.0 | 2.0 |" in text
    assert "| `charter.scc_event` | 2 | 4 | 1.5 / 1.0 / 2.0 | 1.5 / 1.0 / 2.0 |" in text
    assert "Calls of the poll: JADA POST /calendar x2, s3 PutObject x2." in text
    assert "| all sampled (0, 0) | - | - |" in text  # no task log read: said, not made up


def test_a_task_log_is_cut_at_the_task_runners_milestones() -> None:
    from benchmarks import throughput

    def line(at: str, event: str) -> str:
        return json.dumps({"timestamp": f"2026-06-01T12:00:{at}Z", "level": "info", "event": event})

    log = "\n".join([
        line("00.000", "::group::Pre Execute"),
        "not a JSON line",
        line("05.500", "DAG bundles loaded: dags-folder"),
        line("05.600", "Filling up the DagBag from dags/charter_booking_pipeline.py"),
        line("06.000", "Worker startup parse complete"),
        line("06.100", "::endgroup::"),
        line("08.000", "::group::Post Execute"),
        line("08.250", "::endgroup::"),
    ])  # fmt: skip

    cut = throughput.inside_task("charter.scc_event", 9.0, log)

    assert cut == throughput.InsideTask("charter.scc_event", handover=5.5, parse=0.5, step=2.25, unlogged=0.75)
    assert throughput.inside_task("charter.scc_event", 9.0, line("00.000", "::group::Pre Execute")) is None
