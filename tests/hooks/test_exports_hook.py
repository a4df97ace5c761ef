"""ExportsHook: listing and reading exports, writing quarantine records, on S3 (moto server) and file://."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from charter_pipeline.hooks.exports import ExportFile, ExportsHook, Location
from charter_pipeline.hooks.policy import ServiceRejected
from tests.hooks.stand_ins import unique

CSV = b"\xef\xbb\xbfBooking ID,Status\r\nBS-1,approved\r\n"
JSON = b'{"bookings": [{"booking_id": "BS-2", "status": "approved"}]}'


@pytest.fixture
def s3(aws_client: Callable[[str], Any]) -> Any:
    return aws_client("s3")


@pytest.fixture
def bucket(s3: Any) -> str:
    name = unique("exports")
    s3.create_bucket(Bucket=name)
    return name


def count_calls(hook: ExportsHook, operation: str) -> list[str]:
    """Register a counter on the hook's own S3 client: every call it makes to ``operation``."""
    calls: list[str] = []
    hook._s3_client().meta.events.register(f"before-call.s3.{operation}", lambda **_: calls.append(operation))
    return calls


def test_s3_listing_takes_csv_and_json_anywhere_under_the_prefix_but_not_quarantine(s3: Any, bucket: str) -> None:
    for key, body in {
        "incoming/b.csv": CSV,
        "incoming/A.JSON": JSON,
        "incoming/2026/05/c.Csv": CSV,
        "incoming/readme.txt": b"not an export",
        "incoming/.partial.csv": CSV,
        "incoming/folder/": b"",
        "incoming/quarantine/incoming-b.csv-row-1.json": b"{}",
        "other/d.csv": CSV,
    }.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)

    hook = ExportsHook()
    listed = hook.list_exports(f"s3://{bucket}/incoming/", exclude_uri=f"s3://{bucket}/incoming/quarantine/")

    # moto's LastModified has one-second resolution: within one second, the name decides the order.
    assert sorted(listed, key=lambda f: (f.last_modified, f.name)) == listed
    assert sorted(f.name for f in listed) == ["2026/05/c.Csv", "A.JSON", "b.csv"]
    by_name = {f.name: f for f in listed}
    head = s3.head_object(Bucket=bucket, Key="incoming/b.csv")
    assert by_name["b.csv"] == ExportFile(
        uri=f"s3://{bucket}/incoming/b.csv",
        name="b.csv",
        version=head["ETag"].strip('"'),
        last_modified=head["LastModified"].astimezone(UTC),
        size=len(CSV),
    )
    assert by_name["b.csv"].last_modified.tzinfo is not None
    assert hook.read(by_name["A.JSON"]) == JSON
    assert hook.read(by_name["2026/05/c.Csv"]) == CSV


def test_a_quiet_s3_poll_costs_one_list_call(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/b.csv", Body=CSV)
    hook = ExportsHook()
    lists = count_calls(hook, "ListObjectsV2")
    gets = count_calls(hook, "GetObject")
    assert len(hook.list_exports(f"s3://{bucket}/incoming/")) == 1
    assert lists == ["ListObjectsV2"]
    assert gets == []


def test_a_changed_s3_export_gets_a_new_version(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/b.csv", Body=CSV)
    hook = ExportsHook()
    (before,) = hook.list_exports(f"s3://{bucket}/incoming")
    s3.put_object(Bucket=bucket, Key="incoming/b.csv", Body=CSV + b"BS-3,approved\r\n")
    (after,) = hook.list_exports(f"s3://{bucket}/incoming")
    assert before.version != after.version
    assert after.size == before.size + len(b"BS-3,approved\r\n")


def test_empty_s3_prefix_lists_nothing(bucket: str) -> None:
    assert ExportsHook().list_exports(f"s3://{bucket}/incoming/") == []


def test_missing_bucket_is_rejected(aws_conn: str) -> None:
    with pytest.raises(ServiceRejected, match=r"NoSuchBucket|does not exist"):
        ExportsHook().list_exports(f"s3://{unique('missing')}/incoming/")


def test_quarantine_record_on_s3_is_one_json_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/b.csv", Body=CSV)
    record = {
        "source": "b.csv",
        "row": 3,
        "reason": "Passengers: '0' must be a whole number from 1 to 150",
        "raw": {"Booking ID": "BS-9", "Passengers": "0"},
    }
    uri = ExportsHook().write_quarantine(f"s3://{bucket}/quarantine/", "b.csv-row-3.json", record)

    assert uri == f"s3://{bucket}/quarantine/b.csv-row-3.json"
    stored = s3.get_object(Bucket=bucket, Key="quarantine/b.csv-row-3.json")
    assert stored["ContentType"] == "application/json"
    assert json.loads(stored["Body"].read()) == record
    assert s3.get_object(Bucket=bucket, Key="incoming/b.csv")["Body"].read() == CSV


def make_file(folder: Path, relative: str, body: bytes, mtime: int) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    os.utime(path, ns=(mtime, mtime))
    return path


def test_folder_listing_orders_by_modification_then_name(tmp_path: Path) -> None:
    exports = tmp_path / "incoming"
    t = 1_790_000_000_000_000_000
    make_file(exports, "z.csv", CSV, t)
    make_file(exports, "a.json", JSON, t + 5_000_000_000)
    make_file(exports, "2026/b.CSV", CSV, t)
    make_file(exports, "notes.md", b"#", t)
    make_file(exports, ".~lock.z.csv", CSV, t)
    make_file(exports, ".hidden/x.csv", CSV, t)
    make_file(exports, "quarantine/z.csv-row-1.json", b"{}", t)

    hook = ExportsHook()
    listed = hook.list_exports(exports.as_uri() + "/", exclude_uri=(exports / "quarantine").as_uri() + "/")

    assert [f.name for f in listed] == ["2026/b.CSV", "z.csv", "a.json"]
    first = listed[0]
    assert first.uri == (exports / "2026" / "b.CSV").as_uri()
    assert first.version == f"{t}-{len(CSV)}"
    assert first.size == len(CSV)
    assert first.last_modified == datetime.fromtimestamp(t / 1e9, tz=UTC)
    assert hook.read(listed[2]) == JSON
    assert ExportFile.from_dict(first.to_dict()) == first


def test_a_rewritten_file_gets_a_new_version(tmp_path: Path) -> None:
    path = make_file(tmp_path, "b.csv", CSV, 1_790_000_000_000_000_000)
    hook = ExportsHook()
    (before,) = hook.list_exports(tmp_path.as_uri())
    make_file(tmp_path, "b.csv", CSV, 1_790_000_060_000_000_000)
    (after,) = hook.list_exports(tmp_path.as_uri())
    assert before.version != after.version
    assert path.read_bytes() == CSV


def test_missing_folder_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ServiceRejected, match="does not exist"):
        ExportsHook().list_exports((tmp_path / "nowhere").as_uri() + "/")


def test_quarantine_may_not_be_the_exports_location_itself(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must not be the exports location"):
        ExportsHook().list_exports(tmp_path.as_uri() + "/", exclude_uri=tmp_path.as_uri())


def test_folder_quarantine_record_is_written_whole_in_a_new_folder(tmp_path: Path) -> None:
    quarantine = tmp_path / "quarantine" / "2026"
    record = {"source": "z.csv", "row": 1, "reason": "Trip Date: 'tomorrow' is not a date", "raw": {"x": "é"}}
    uri = ExportsHook().write_quarantine(quarantine.as_uri() + "/", "z.csv-row-1.json", record)

    assert uri == (quarantine / "z.csv-row-1.json").as_uri()
    assert json.loads((quarantine / "z.csv-row-1.json").read_text("utf-8")) == record
    assert sorted(p.name for p in quarantine.iterdir()) == ["z.csv-row-1.json"]


@pytest.mark.parametrize("name", ["", "../escape.json", "a/b.json", ".hidden.json"])
def test_quarantine_names_are_plain_file_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        ExportsHook().write_quarantine(tmp_path.as_uri(), name, {})


@pytest.mark.parametrize(
    ("uri", "location"),
    [
        ("s3://jada-boatsetter-exports/incoming/", Location("s3", "jada-boatsetter-exports", "incoming/")),
        ("s3://jada-boatsetter-exports/incoming", Location("s3", "jada-boatsetter-exports", "incoming/")),
        ("s3://jada-boatsetter-exports", Location("s3", "jada-boatsetter-exports", "")),
        ("file:///srv/exports/", Location("file", "", "/srv/exports/")),
        ("file:///srv/my%20exports", Location("file", "", "/srv/my exports/")),
    ],
)
def test_locations(uri: str, location: Location) -> None:
    assert Location.parse(uri) == location


@pytest.mark.parametrize("uri", ["/srv/exports", "file://host/srv", "s3:///prefix", "https://example.com/"])
def test_bad_locations(uri: str) -> None:
    with pytest.raises(ValueError, match="is not s3://bucket/prefix/ or file:///absolute/folder/"):
        Location.parse(uri)


def test_quarantine_names_may_hold_dots(tmp_path: Path) -> None:
    uri = ExportsHook().write_quarantine(tmp_path.as_uri(), "b..v2.csv.1a2b.row-3.json", {"row": 3})
    assert uri == (tmp_path / "b..v2.csv.1a2b.row-3.json").as_uri()
