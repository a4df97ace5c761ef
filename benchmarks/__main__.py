"""``python -m benchmarks`` (``make bench``): run the benchmarks, print the table, write docs/PERFORMANCE.md.

    python -m benchmarks                      # all of them (about 35 minutes: the two topology sections take
                                              # most), then docs/PERFORMANCE.md
    python -m benchmarks --quick --output X   # tiny sizes, one repetition each: checks the machinery
    python -m benchmarks --only intake        # some of them; the page is written only with --output
    python -m benchmarks --only throughput --output docs/PERFORMANCE.md   # re-measure one section of the page

Exit code 0 when every benchmark ran (a MISS is reported, not an error; ``--fail-on-miss`` makes it one),
1 when a benchmark could not run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.report import Section, load_average, performance_page, text_table, updated_page, write_page

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "PERFORMANCE.md"


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: its module's ``run``, and the tiny sizes of a ``--quick`` run."""

    title: str
    run: Callable[..., Section]
    quick: dict[str, Any]


def benchmarks() -> dict[str, Benchmark]:
    # Imported here: deployment.py's callers must set AIRFLOW_HOME before anything imports Airflow.
    from benchmarks import end_to_end, idle_poll, intake, latency, parse_time, staff_page, throughput, webhook

    # A full run uses each module's own defaults (the sizes the issue names); quick ones are tiny.
    return {
        "parse_time": Benchmark("1. DAG parse time", parse_time.run, {"repeats": 1}),
        "idle_poll": Benchmark("2. A poll with nothing new", idle_poll.run, {"sizes": (10, 60), "repeats": 1}),
        "intake": Benchmark("3. Intake of a large export", intake.run,
                            {"rows": 2_000, "ledger_size": 2_000, "repeats": 1}),
        "end_to_end": Benchmark("4. End to end", end_to_end.run, {"bookings": 2, "repeats": 1}),
        "staff_page": Benchmark("5. The Charter bookings page", staff_page.run,
                                {"upcoming": 120, "history": 50, "repeats": 1}),
        "throughput": Benchmark("6. Throughput on the deployed topology", throughput.run, {"bookings": 3}),
        # Quick: the watcher only, two drops (the cron alone needs minutes whatever its size).
        "latency": Benchmark("7. Latency from export to invalidation", latency.run, {"drops": 2, "cron_drops": 0}),
        "webhook": Benchmark("8. Booking webhook to invalidation", webhook.run, {"deliveries": 1}),
    }  # fmt: skip


NAMES = ("parse_time", "idle_poll", "intake", "end_to_end", "staff_page", "throughput", "latency", "webhook")


def secret_values() -> list[str]:
    """The local stack's secrets: never printed, whatever an error message quotes."""
    from sandbox.aws import DEFAULT_AWS_SECRET_ACCESS_KEY
    from sandbox.jada import DEFAULT_DASHBOARD_TOKEN
    from sandbox.scc import DEFAULT_SERVICE_KEY

    return [DEFAULT_AWS_SECRET_ACCESS_KEY, DEFAULT_DASHBOARD_TOKEN, DEFAULT_SERVICE_KEY]


def redacted(text: str) -> str:
    for secret in secret_values():
        text = text.replace(secret, "***")
    return text


def isolate_this_process(scratch: Path) -> None:
    """This process's own Airflow (bootstrap, seeding, the direct run) gets a private home and stays quiet.

    Set before anything imports Airflow; the Airflow subprocesses get their own environment (airflow_home.py).
    """
    home = scratch / "in-process-airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)


def run_one(name: str, benchmark: Benchmark, *, quick: bool) -> Section:
    """Run one benchmark; a crash becomes a section with an error, so the others still run."""
    try:
        return benchmark.run(**(benchmark.quick if quick else {}))
    except Exception as exc:
        print(redacted(traceback.format_exc()), file=sys.stderr)
        lines = redacted(str(exc)).strip().splitlines() or [""]
        return Section(name, benchmark.title, error=f"{type(exc).__name__}: {' / '.join(lines[-8:])[:1500]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition: check the machinery")
    parser.add_argument("--only", nargs="+", choices=NAMES, metavar="NAME", help=f"some of: {', '.join(NAMES)}")
    parser.add_argument("--output", type=Path, help=f"where to write the page (default for a full run: {PAGE})")
    parser.add_argument("--fail-on-miss", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    names = list(args.only or NAMES)
    output: Path | None = args.output or (PAGE if not args.quick and not args.only else None)

    started, load_before = datetime.now(UTC), load_average()
    sections: list[Section] = []
    with tempfile.TemporaryDirectory(prefix="charter-bench-") as scratch:
        isolate_this_process(Path(scratch))
        registry = benchmarks()
        for name in names:
            benchmark = registry[name]
            print(f"== {benchmark.title} {'(quick)' if args.quick else ''}".rstrip(), flush=True)
            began = time.perf_counter()
            section = run_one(name, benchmark, quick=args.quick)
            sections.append(section)
            print(text_table([section]), f"({time.perf_counter() - began:.0f} s)", "", sep="\n", flush=True)
    finished = datetime.now(UTC)
    print(text_table(sections))
    if output is not None and args.only and output.exists() and not args.quick:
        # Some benchmarks into an existing page: only their rows and sections change, the rest stays as measured.
        command = f"python -m benchmarks --only {' '.join(names)}"
        page = updated_page(output.read_text(), sections, command=command, finished=finished,
                            load_before=load_before, load_after=load_average())  # fmt: skip
        write_page(output, redacted(page))
        print(f"\nupdated {', '.join(s.title for s in sections)} in {output}")
    elif output is not None:
        command = "python -m benchmarks" + (" --quick" if args.quick else "")
        page = performance_page(sections, started=started, finished=finished, quick=args.quick,
                                load_before=load_before, load_after=load_average(), command=command)  # fmt: skip
        write_page(output, redacted(page))
        print(f"\nwrote {output}")
    if any(section.error for section in sections):
        return 1
    return 1 if args.fail_on_miss and any(section.missed for section in sections) else 0


if __name__ == "__main__":
    sys.exit(main())
