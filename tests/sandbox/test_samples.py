"""sandbox.samples: the sample exports read the way the pipeline reads them."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from charter_pipeline.booking import Booking, BookingError, parse_booking
from charter_pipeline.config import load_config
from charter_pipeline.exports import read_export
from charter_pipeline.money_words import is_money_line
from sandbox.samples import (
    BOATSETTER_HEADER,
    SAMPLE_ROSTER,
    SampleBooking,
    sample_bookings,
    sample_exports,
    sample_variable,
    today_in_san_diego,
    write_samples,
)

TODAY = date(2026, 11, 24)
TZ = ZoneInfo("America/Los_Angeles")
# Words the SCC notes scrub (CONTRACT.md section 6) treats as money; a guest or boat name holding one would lose
# its line in the crew notes.
MONEY_WORDS = re.compile(r"revenue|fee|pay|rate|cost|margin|price|gross|net|tip|wage|fare|usd|\$", re.IGNORECASE)


def _parsed(today: date) -> dict[tuple[str, int], Booking | BookingError]:
    """Every row of every sample file through the pipeline's own reader and parser, keyed by (file, row)."""
    results: dict[tuple[str, int], Booking | BookingError] = {}
    for name, data in sample_exports(today).items():
        for raw in read_export(name, data):
            try:
                results[(name, raw.row)] = parse_booking(raw.values, TZ)
            except BookingError as error:
                results[(name, raw.row)] = error
    return results


def _by_file(today: date) -> list[tuple[SampleBooking, Booking | BookingError]]:
    parsed = _parsed(today)
    names = {"csv": next(n for n in parsed if n[0].endswith(".csv"))[0], "json": ""}
    names["json"] = next(n for n in parsed if n[0].endswith(".json"))[0]
    pairs = []
    rows = {"csv": 0, "json": 0}
    for sample in sample_bookings(today):
        rows[sample.file] += 1
        pairs.append((sample, parsed[(names[sample.file], rows[sample.file])]))
    assert len(pairs) == len(parsed)
    return pairs


def test_same_day_same_bytes() -> None:
    assert sample_exports(TODAY) == sample_exports(TODAY)
    assert sample_exports(TODAY) != sample_exports(TODAY + timedelta(days=1))


def test_one_boatsetter_csv_and_one_json_file() -> None:
    files = sample_exports(TODAY)
    [csv_name] = [n for n in files if n.endswith(".csv")]
    [json_name] = [n for n in files if n.endswith(".json")]
    text = files[csv_name].decode("utf-8-sig")
    assert tuple(next(csv.reader(io.StringIO(text)))) == BOATSETTER_HEADER
    assert "\r\n" in text
    assert set(json.loads(files[json_name])) == {"bookings"}


def test_a_dozen_bookings_over_four_boats_and_every_kind_of_status() -> None:
    samples = sample_bookings(TODAY)
    assert 10 <= len({s.booking_id for s in samples}) <= 14
    assert len({s.values["Boat"] for s in samples}) == 4
    statuses = {str(s.values["Status"]).lower() for s in samples}
    assert {"approved", "confirmed", "completed", "inquiry", "pre-approved", "cancelled"} <= statuses


def test_the_formats_vary_as_in_real_exports() -> None:
    values = [s.values for s in sample_bookings(TODAY)]
    gross = [str(v["Gross"]) for v in values]
    assert any(re.fullmatch(r"\$\d{1,3}(,\d{3})+\.\d\d", g) for g in gross)
    assert any(re.fullmatch(r"\d+\.\d\d", g) for g in gross)
    dates = [str(v["Trip Date"]) for v in values]
    assert any(re.fullmatch(r"\d{4}-\d\d-\d\d", d) for d in dates)
    assert any(re.fullmatch(r"\d\d/\d\d/\d{4}", d) for d in dates)
    times = [str(v["Start Time"]) for v in values]
    assert any(re.fullmatch(r"\d\d:\d\d", t) for t in times)
    assert any(re.fullmatch(r"\d{1,2}:\d\d [AP]M", t) for t in times)


def test_the_pipeline_parses_every_good_row_and_refuses_the_bad_ones_by_field() -> None:
    for sample, result in _by_file(TODAY):
        if sample.expect == "quarantined":
            assert isinstance(result, BookingError), sample.booking_id
            assert result.field == sample.bad_field
        else:
            assert isinstance(result, Booking), f"{sample.booking_id}: {result}"
            assert result.booking_id == sample.booking_id
    assert sum(s.expect == "quarantined" for s in sample_bookings(TODAY)) == 2


def test_trips_lie_ahead_except_the_one_past_trip() -> None:
    now = datetime.combine(TODAY, datetime.max.time(), tzinfo=TZ)
    for sample, result in _by_file(TODAY):
        if isinstance(result, BookingError):
            continue
        if sample.expect == "past":
            assert result.end < datetime.combine(TODAY, datetime.min.time(), tzinfo=TZ)
        else:
            assert result.start > now, sample.booking_id
    assert [s.booking_id for s in sample_bookings(TODAY) if s.expect == "past"] == ["BS-480095"]


@settings(max_examples=25, deadline=None)
@given(st.dates(min_value=date(2024, 1, 1), max_value=date(2040, 12, 31)))
def test_any_day_gives_future_trips_and_one_past_trip(today: date) -> None:
    for sample in sample_bookings(today):
        trip = str(sample.values["Trip Date"])
        if sample.expect == "quarantined" and sample.bad_field == "Trip Date":
            continue
        day = date.fromisoformat(trip) if "-" in trip else datetime.strptime(trip, "%m/%d/%Y").date()  # noqa: DTZ007
        assert (day < today) == (sample.expect == "past")


def test_the_cancellation_follows_an_older_approval() -> None:
    rows = [s for s in sample_bookings(TODAY) if s.expect == "cancelled"]
    assert [(s.file, s.values["Status"]) for s in rows] == [("csv", "approved"), ("json", "cancelled")]
    approved, cancelled = (datetime.fromisoformat(str(s.values["Updated At"])) for s in rows)
    assert cancelled > approved


def test_names_carry_no_money_words() -> None:
    names = [str(s.values[k]) for s in sample_bookings(TODAY) for k in ("Boat", "Renter Name", "Captain")]
    for entry in SAMPLE_ROSTER.values():
        names += [entry["captain"]["name"], *(m["name"] for m in entry["crew"])]
    assert [n for n in names if MONEY_WORDS.search(n)] == []
    assert [n for n in names if is_money_line(f"Guest: {n}")] == []


def test_sample_variable_is_a_valid_deployment_with_a_roster() -> None:
    variable = sample_variable("E1SANDBOX", "s3://local-exports/incoming/")
    config = load_config(json.loads(json.dumps(variable)))

    assert config.cloudfront_distribution_id == "E1SANDBOX"
    assert config.exports_uri == "s3://local-exports/incoming/"
    assert config.ledger_table == "charter-booking-ledger"
    assert "ledger_table" not in variable
    default = config.crew_for_boat("A boat nobody listed")
    assert default.captain is not None
    assert default.captain.email.endswith("@example.com")
    assert default.crew
    assert all(m.email.endswith("@example.com") for m in default.crew)
    assert config.crew_for_boat("marina star").captain == config.crew_for_boat("Marina Star").captain


def test_sample_variable_without_a_distribution_keeps_the_default() -> None:
    assert "cloudfront_distribution_id" not in sample_variable("")
    assert load_config(sample_variable("")).exports_uri == "s3://jada-boatsetter-exports/incoming/"


def test_today_is_san_diego_today() -> None:
    # 05:00 UTC on 1 March is still 28 February (21:00) in San Diego.
    assert today_in_san_diego(datetime(2027, 3, 1, 5, 0, tzinfo=UTC)) == date(2027, 2, 28)


def test_write_samples_to_a_folder(tmp_path: Path) -> None:
    written = write_samples(f"file://{tmp_path}/incoming/", today=TODAY)

    files = sample_exports(TODAY)
    assert sorted(Path(p).name for p in written) == sorted(files)
    for name, data in files.items():
        assert (tmp_path / "incoming" / name).read_bytes() == data


def test_write_samples_to_s3() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="jada-boatsetter-exports")

        written = write_samples("s3://jada-boatsetter-exports/incoming/", today=TODAY, s3_client=s3)

        files = sample_exports(TODAY)
        assert written == [f"s3://jada-boatsetter-exports/incoming/{name}" for name in files]
        for name, data in files.items():
            assert s3.get_object(Bucket="jada-boatsetter-exports", Key=f"incoming/{name}")["Body"].read() == data


def test_write_samples_to_s3_needs_a_client() -> None:
    with pytest.raises(ValueError, match="s3_client"):
        write_samples("s3://jada-boatsetter-exports/incoming/", today=TODAY)
