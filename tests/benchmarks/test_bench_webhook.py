"""The webhook benchmark's handler measurement runs (cold processes and warm calls); no topology is started here
(``python -m benchmarks --only webhook`` does that) and nothing is timed against a limit."""

from __future__ import annotations

from benchmarks.webhook import measure_handler


def test_the_handler_measurement_answers_every_delivery_and_reports_each_figure() -> None:
    figures = measure_handler()  # raises unless every cold and warm delivery was answered 202

    assert set(figures) == {"import", "first_call", "boto3", "warm_one", "warm_batch"}
    assert all(seconds > 0 for seconds in figures.values())
