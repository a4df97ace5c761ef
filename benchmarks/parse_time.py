"""Benchmark 1: how long the DAG processor spends parsing our ``dags/`` folder, against a one-task DAG.

Each parse runs in a fresh interpreter with ``airflow.sdk`` (and ``DagBag``) already imported before the timer
starts, so the number is what parsing our files adds, not Airflow's own start-up. The DAG processor re-parses
the folder every ``min_file_process_interval`` (30 s by default), so this is paid all day long.
"""

from __future__ import annotations

import json
import pstats
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.airflow_home import DAGS_FOLDER, AirflowFailed, AirflowHome, write_trivial_dag
from benchmarks.report import Row, Samples, Section, counted, interleaved, profile_lines

TARGET_RATIO = 2.0

# Run with `python -c`: argv[1] is the dags folder, argv[2] (optional) a file for a cProfile dump of the parse.
# Prints one JSON line. CPU time is kept beside wall time: it barely moves when other users load the machine.
PROBE = """
import cProfile, json, sys, time
import airflow.sdk  # the processor has the SDK loaded long before it parses a file
from airflow.dag_processing.dagbag import DagBag

profile = cProfile.Profile() if len(sys.argv) > 2 else None
started, cpu_started = time.perf_counter(), time.process_time()
if profile:
    profile.enable()
bag = DagBag(dag_folder=sys.argv[1])
if profile:
    profile.disable()
    profile.dump_stats(sys.argv[2])
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
errors = {str(path): str(error).splitlines()[-1][:300] for path, error in bag.import_errors.items()}
print(json.dumps({"seconds": seconds, "cpu": cpu, "dag_ids": sorted(bag.dag_ids), "import_errors": errors}))
"""


@dataclass(frozen=True)
class ParseRun:
    seconds: float
    cpu: float
    dag_ids: list[str]


def parse_once(home: AirflowHome, dags_folder: Path, *, profile_to: Path | None = None) -> ParseRun:
    """Parse ``dags_folder`` with ``DagBag`` in a fresh interpreter; any import error fails the benchmark."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(dags_folder), *([str(profile_to)] if profile_to else [])],
        env=home.environ(dags_folder=dags_folder),
        cwd=home.root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise AirflowFailed(f"parsing {dags_folder} failed ({done.returncode})\n{home.tail(done.stderr)}")
    report = json.loads(lines[-1])
    if report["import_errors"]:
        raise AirflowFailed(f"import errors parsing {dags_folder}: {report['import_errors']}")
    if not report["dag_ids"]:
        raise AirflowFailed(f"no DAG found in {dags_folder}")
    return ParseRun(seconds=float(report["seconds"]), cpu=float(report["cpu"]), dag_ids=list(report["dag_ids"]))


def run(*, repeats: int = 5) -> Section:
    """Parse the real dags folder and the trivial one ``repeats`` times each, interleaved; compare the medians."""
    section = Section("parse_time", "1. DAG parse time")
    ours: list[ParseRun] = []
    trivial_runs: list[ParseRun] = []
    with tempfile.TemporaryDirectory(prefix="bench-parse-") as tmp:
        root = Path(tmp)
        trivial = write_trivial_dag(root / "trivial-dags")
        home = AirflowHome(root)
        home.home.mkdir(parents=True)
        # The first import of airflow in a new home writes airflow.cfg, and the first reads of the files fill
        # the disk cache: a full run does that once outside the measurements.
        if repeats > 1:
            parse_once(home, trivial)
            parse_once(home, DAGS_FOLDER)

        def measure(folder: Path, into: list[ParseRun]) -> float:
            into.append(parse_once(home, folder))
            return into[-1].seconds

        wall, baseline = interleaved(
            repeats, lambda: measure(DAGS_FOLDER, ours), lambda: measure(trivial, trivial_runs)
        )
        row = parse_row(wall, baseline)
        profiles: list[str] = []
        if row.passed is False:
            profiles = profile_both(home, trivial, root)
    found = sorted({dag_id for r in ours + trivial_runs for dag_id in r.dag_ids})
    cpu = Samples(tuple(r.cpu for r in ours))
    cpu_baseline = Samples(tuple(r.cpu for r in trivial_runs))
    section.rows.append(row)
    section.details += [
        "`DagBag(dag_folder=...)` timed in a fresh interpreter each time, `airflow.sdk` and `DagBag` imported before",
        f"the timer; {counted(repeats, 'run')} of each, interleaved. DAGs found: {', '.join(found)}.",
        "",
        f"- `dags/` (the pipeline): {medians(wall, cpu)}; wall runs (s): {wall.shown(3)}",
        f"- one-task DAG (baseline): {medians(baseline, cpu_baseline)}; wall runs (s): {baseline.shown(3)}",
        f"- ratio of the CPU-time medians (moves less with load): {cpu.median / cpu_baseline.median:.2f}x",
    ]
    if profiles:
        section.details += [
            "",
            (
                "The target is missed. Where a parse of `dags/` spends its time (one cProfile run, "
                "top functions by cumulative time; the one-task DAG's parse pays the shared part too):"
            ),
            "",
            *profiles,
        ]
    return section


def medians(wall: Samples, cpu: Samples) -> str:
    return f"median {wall.median * 1000:.0f} ms wall, {cpu.median * 1000:.0f} ms CPU"


def profile_both(home: AirflowHome, trivial: Path, root: Path) -> list[str]:
    """cProfile of one parse of each folder, as markdown tables."""
    lines: list[str] = []
    for title, folder in (("`dags/`", DAGS_FOLDER), ("one-task DAG", trivial)):
        dump = root / f"parse-{folder.name}.prof"
        parsed = parse_once(home, folder, profile_to=dump)
        lines += [
            f"{title}, {parsed.seconds * 1000:.0f} ms under the profiler:",
            "",
            *profile_lines(pstats.Stats(str(dump)), total=parsed.seconds, limit=12),
            "",
        ]
    return lines


def parse_row(ours: Samples, baseline: Samples) -> Row:
    ratio = ours.median / baseline.median
    return Row(
        name="DAG parse: dags/ vs one-task DAG",
        measured=ours.median,
        baseline=baseline.median,
        unit="s",
        target=f"ratio <= {TARGET_RATIO:g}x",
        passed=ratio <= TARGET_RATIO,
        baseline_name="one-task DAG",
    )
