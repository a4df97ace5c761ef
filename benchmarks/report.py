"""The rows every benchmark reports, the machine they ran on, the printed table and docs/PERFORMANCE.md."""

from __future__ import annotations

import os
import platform
import pstats
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# Distributions whose versions decide the numbers; providers are added by prefix.
VERSIONED = ("apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk", "moto", "boto3", "botocore")


@dataclass(frozen=True)
class Row:
    """One line of the table: the pipeline's number next to the baseline measured in the same run.

    ``passed`` is None for a row that informs without a target.
    """

    name: str
    measured: float
    baseline: float
    unit: str
    target: str
    passed: bool | None
    baseline_name: str = ""

    @property
    def ratio(self) -> float | None:
        return self.measured / self.baseline if self.baseline else None

    @property
    def verdict(self) -> str:
        return "info" if self.passed is None else "PASS" if self.passed else "MISS"


@dataclass
class Section:
    """One benchmark's rows, and the markdown that says how they were measured (samples, counts, profile)."""

    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    error: str = ""  # set when the benchmark could not run; the run goes on with the others

    @property
    def missed(self) -> bool:
        return bool(self.error) or any(row.passed is False for row in self.rows)


@dataclass(frozen=True)
class Samples:
    """Repeated measurements of one quantity (seconds unless said otherwise)."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def shown(self, digits: int = 2) -> str:
        return ", ".join(f"{value:.{digits}f}" for value in self.values)


def interleaved(
    repeats: int, measure_pipeline: Callable[[], float], measure_baseline: Callable[[], float]
) -> tuple[Samples, Samples]:
    """Alternate pipeline and baseline measurements (order flipped every round), so a burst of load from the other
    users of a shared machine lands on both sides instead of skewing one."""
    pipeline: list[float] = []
    baseline: list[float] = []
    for round_number in range(repeats):
        if round_number % 2:
            baseline.append(measure_baseline())
            pipeline.append(measure_pipeline())
        else:
            pipeline.append(measure_pipeline())
            baseline.append(measure_baseline())
    return Samples(tuple(pipeline)), Samples(tuple(baseline))


def number(value: float, unit: str = "") -> str:
    """A measurement for the table: seconds with sensible precision, counts as whole numbers."""
    if unit in ("calls", "rows", "bookings"):
        return f"{value:,.0f} {unit}"
    if unit == "MB":
        return f"{value:,.1f} MB"
    if value >= 100:
        text = f"{value:,.0f}"
    elif value >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3f}"
    return f"{text} {unit}".strip()


def ratio_text(row: Row) -> str:
    ratio = row.ratio
    return "-" if ratio is None else f"{ratio:.2f}x"


TABLE_HEADER = ("benchmark", "measured", "baseline", "ratio", "target", "result")


def table_cells(rows: Iterable[Row]) -> list[tuple[str, ...]]:
    return [
        (
            row.name,
            number(row.measured, row.unit),
            number(row.baseline, row.unit),
            ratio_text(row),
            row.target,
            row.verdict,
        )
        for row in rows
    ]


def text_table(sections: Sequence[Section]) -> str:
    """The table ``python -m benchmarks`` prints: one row per measurement, PASS/MISS against its target."""
    cells = [TABLE_HEADER, *table_cells(row for section in sections for row in section.rows)]
    cells += [(f"{section.title}: did not run", "-", "-", "-", "-", "MISS") for section in sections if section.error]
    widths = [max(len(line[column]) for line in cells) for column in range(len(TABLE_HEADER))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(rows: Iterable[Row]) -> list[str]:
    lines = ["| " + " | ".join(TABLE_HEADER) + " |", "|" + "---|" * len(TABLE_HEADER)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in table_cells(rows)]
    return lines


# --- the machine and the versions ------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return None


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def load_average() -> str:
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def machine_lines() -> list[str]:
    memory = memory_gib()
    return [
        f"- CPU: {cpu_model()}, {usable_cpus()} usable of {os.cpu_count()} (nproc)",
        f"- memory: {memory:.1f} GiB" if memory else "- memory: unknown",
        f"- OS: {platform.platform()}",
    ]


def versions() -> dict[str, str]:
    """Python and every distribution that shapes the numbers: Airflow, its SDK, the providers, moto, boto."""
    found = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    providers = sorted(
        (dist.metadata["Name"], dist.version)
        for dist in metadata.distributions()
        if (dist.metadata["Name"] or "").startswith("apache-airflow-providers-")
    )
    found.update(providers)
    return found


# --- docs/PERFORMANCE.md --------------------------------------------------------------------------------------


def performance_page(
    sections: Sequence[Section],
    *,
    started: datetime,
    finished: datetime,
    quick: bool,
    load_before: str,
    load_after: str,
    command: str,
) -> str:
    """The whole page, written by the run itself: nothing in it is typed by hand."""
    rows = [row for section in sections for row in section.rows]
    misses = [section for section in sections if section.missed]
    minutes = (finished - started).total_seconds() / 60
    lines = [
        "# Performance",
        "",
        f"Written by `{command}` on {finished.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({minutes:.1f} minutes); do not",
        "edit by hand, run `make bench` again. Every number is a median of repeated runs, and every target is a ratio",
        "against a baseline measured in the same run, pipeline and baseline interleaved, because the machine is shared",
        "and its absolute speed drifts from minute to minute. Only the call counts and the per-booking wall time",
        "are absolute.",
        "",
    ]
    if quick:
        lines += [
            "**Quick run** (`--quick`): tiny sizes and one repetition, to check the machinery. These numbers",
            "say nothing about performance.",
            "",
        ]
    lines += markdown_table(rows)
    for section in sections:
        if section.error:
            lines += ["", f"**{section.title} did not run:** {section.error}"]
    lines += ["", result_line([section.title for section in misses])]
    lines += [
        "",
        "## Machine",
        "",
        *machine_lines(),
        f"- load average (1, 5, 15 min): {load_before} before the run, {load_after} after it",
        "",
        "## Versions",
        "",
    ]
    lines += [f"- {name} {version}" for name, version in versions().items()]
    for section in sections:
        lines += ["", f"## {section.title}", "", *section.details]
    return "\n".join(lines).rstrip() + "\n"


def updated_page(page: str, sections: Sequence[Section], *, command: str, finished: datetime, load_before: str,
                 load_after: str) -> str:  # fmt: skip
    """``page`` (docs/PERFORMANCE.md as written by a whole run) with only ``sections`` measured again: their rows in
    the table and their own ``## N. ...`` part replaced (or put in number order), everything else kept as it was.

    Each section says when and by which command it was measured, since the page's header names the whole run.
    """
    lines = page.rstrip("\n").split("\n")
    for section in sections:
        # The page's first table is the one with every row; a row belongs to a benchmark by its name's prefix.
        prefixes = tuple({row.name.split(":", 1)[0] + ":" for row in section.rows})
        top = next((i for i, line in enumerate(lines) if line.startswith("| " + TABLE_HEADER[0] + " |")), len(lines))
        end = next((i for i in range(top, len(lines)) if not lines[i].startswith("|")), len(lines))
        old = [i for i in range(top + 2, end) if prefixes and lines[i][2:].startswith(prefixes)]
        at = old[0] if old else end
        lines = [line for i, line in enumerate(lines) if i not in old]
        lines[at:at] = markdown_table(section.rows)[2:]
        failed = [f"**Did not run:** {section.error}", ""] if section.error else []
        body = [
            f"## {section.title}",
            "",
            (
                f"Measured apart from the rest of this page by `{command}` on {finished.astimezone(UTC):%Y-%m-%d %H:%M}"
                f" UTC (load average {load_before} before, {load_after} after)."
            ),
            "",
            *failed,
            *section.details,
            "",
        ]
        headings = [i for i, line in enumerate(lines) if line.startswith("## ")]
        mine = [i for i in headings if lines[i] == f"## {section.title}"]
        if mine:
            end = next((i for i in headings if i > mine[0]), len(lines))
            lines[mine[0] : end] = body
        else:
            number = _section_number(section.title)
            later = [i for i in headings if _section_number(lines[i][3:]) > number]
            at = later[0] if later else len(lines)
            if not later:
                body = ["", *body]
            lines[at:at] = body
    # The page's verdict, with these sections' new results in place of their old ones.
    verdict = next((i for i, line in enumerate(lines) if line.startswith(RESULT)), None)
    if verdict is not None:
        missed = set(_missed_titles(lines[verdict]))
        missed -= {section.title for section in sections}
        missed |= {section.title for section in sections if section.missed}
        lines[verdict] = result_line(sorted(missed, key=_section_number))
    return "\n".join(lines).rstrip() + "\n"


RESULT = "Result: "
_MISSED = "MISS in "
_SEE_BELOW = " (see below)."


def result_line(missed: Sequence[str]) -> str:
    """The page's verdict: every target met, or the titles of the sections that missed one."""
    return RESULT + (_MISSED + ", ".join(missed) + _SEE_BELOW if missed else "every target met.")


def _missed_titles(line: str) -> list[str]:
    text = line.removeprefix(RESULT)
    return text.removeprefix(_MISSED).removesuffix(_SEE_BELOW).split(", ") if text.startswith(_MISSED) else []


def _section_number(title: str) -> float:
    """``6. Throughput ...`` -> 6; a title without a number (Machine, Versions) sorts first."""
    head = title.split(".", 1)[0]
    return float(head) if head.isdigit() else 0.0


def write_page(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# --- profiles -------------------------------------------------------------------------------------------------

# Frames that only say "an import happened" or "a function was called"; they hide where the time goes.
_PLUMBING = (
    "<frozen importlib",
    "{built-in method builtins.exec}",
    "{built-in method builtins.hasattr}",
    "{method 'enable' of",
    "{method 'disable' of",
)


def short_place(filename: str, line: int, function: str) -> str:
    """``charter_pipeline/booking.py:245(parse_booking)``: the path from the package folder on."""
    for marker in ("/site-packages/", "/plugins/", "/work/main/", "/lib/python3."):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            if marker == "/lib/python3.":
                filename = "stdlib/" + filename.split("/", 1)[-1]
            break
    return f"{filename}:{line}({function})" if line else function


def profile_lines(stats: pstats.Stats, *, total: float, limit: int = 15, sort: str = "cumulative",
                  within: str = "") -> list[str]:  # fmt: skip
    """The top functions of a cProfile run as a markdown table: cumulative and own time, calls, share of ``total``.

    ``within`` keeps only functions whose place holds it (say, ``charter_pipeline/``).
    """
    entries = []
    for (filename, line, function), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        place = short_place(filename, line, function)
        if any(place.startswith(p) or p in place for p in _PLUMBING) or within not in place:
            continue
        entries.append((cumulative, own, calls, place))
    index = 0 if sort == "cumulative" else 1
    entries.sort(key=lambda entry: entry[index], reverse=True)
    lines = ["| function | cumulative s | own s | calls | share of total |", "|---|---|---|---|---|"]
    for cumulative, own, calls, place in entries[:limit]:
        share = f"{cumulative / total:.0%}" if total else "-"
        lines.append(f"| `{place}` | {cumulative:.3f} | {own:.3f} | {calls:,} | {share} |")
    return lines


def profile_total(stats: pstats.Stats, place: str) -> tuple[float, int]:
    """Cumulative seconds and calls of the functions whose place ends with ``place`` (``session.py(create_client)``)."""
    seconds, calls = 0.0, 0
    for (filename, _line, function), (_, count, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        if f"{filename}({function})".endswith(place):
            seconds, calls = seconds + cumulative, calls + count
    return seconds, calls


def joined(*parts: str) -> str:
    """One line of the page from pieces that do not fit one source line."""
    return "".join(parts)


def counted(count: int, thing: str, things: str = "") -> str:
    """``1 run``, ``3 runs``."""
    return f"{count:,} {thing if count == 1 else things or thing + 's'}"
